import Support

#if canImport(Glibc)
import Glibc
#endif

/// Opens sealed values on one thread: one AES-GCM context per thread and key, set up with the
/// HKDF-derived key once and kept for the thread's life (responder threads serve for hours), and
/// one output buffer reused for every value. Per value only the nonce changes. Not generic and
/// without closures on purpose: called across modules, generics cost metadata look-ups per value.
public final class SealedReader {
    /// Contexts by derived key; a handful at most (purposes times current and previous keys).
    private var openers: [[UInt8]: any GCMOpening] = [:]
    private var last: (keyring: Keyring.Identity, word: UInt32, purpose: KeyPurpose, opener: any GCMOpening)?
    /// Plaintext of the last value opened; owned here, so no closure or copy per value.
    private var output: UnsafeMutablePointer<UInt8>
    private var capacity: Int
    /// Bytes of `output` holding the last plaintext.
    private var used = 0

    private init() {
        capacity = 4096
        output = .allocate(capacity: capacity)
    }

    deinit { output.deallocate() }

    /// This thread's reader, made on first use and released when the thread ends.
    public static func forThisThread() -> SealedReader {
        if let raw = pthread_getspecific(threadKey) { return Unmanaged<SealedReader>.fromOpaque(raw).takeUnretainedValue() }
        let reader = SealedReader()
        pthread_setspecific(threadKey, Unmanaged.passRetained(reader).toOpaque())
        return reader
    }

    /// Opens a blob (`SealedBlob`) bound to `place`. The plaintext stays valid until the next
    /// `open` on this reader (so on this thread). A key the keyring does not hold is `unknownKey`.
    public func open(
        blob: UnsafeRawBufferPointer, keyring: Keyring, purpose: KeyPurpose,
        place: UnsafeBufferPointer<UInt8>
    ) throws(EnvelopeError) -> UnsafeBufferPointer<UInt8> {
        guard let (word, payload) = SealedBlob.split(blob) else { throw .malformed }
        let opener: any GCMOpening
        // Rows of one answer share keyring, key and purpose: the last context is reused without
        // looking the key up (the identity is held, so it cannot be another keyring's).
        if let last, last.keyring === keyring.identity, last.word == word, last.purpose == purpose {
            opener = last.opener
        } else {
            guard let key = keyring.key(word: word) else { throw .unknownKey(SealedBlob.idHex(word)) }
            guard let derived = key.derived[purpose], let made = self.opener(derived) else { throw .authenticationFailed }
            last = (keyring.identity, word, purpose, made)
            opener = made
        }
        let needed = payload.count + 16
        if capacity < needed {
            output.deallocate()
            capacity = max(needed, 2 * capacity)
            output = .allocate(capacity: capacity)
        }
        wipe()
        // A value that fails its tag may have been written out already (OpenSSL decrypts before
        // it checks): it is zeroed at once.
        used = min(capacity, payload.count)
        guard let count = opener.open(payload: payload, aad: place, into: output) else {
            wipe()
            throw .authenticationFailed
        }
        used = count
        return UnsafeBufferPointer(start: output, count: count)
    }

    /// Zeroes the last plaintext: call when done with it, so no transcript text stays in the
    /// thread's buffer between requests.
    public func wipe() {
        if used > 0 { output.update(repeating: 0, count: used) }
        used = 0
    }

    /// Which library opens values on this machine (libsodium needs AES-NI and CLMUL).
    public static var backend: String { SodiumGCMOpener.available ? "libsodium" : "openssl" }

    private func opener(_ key: [UInt8]) -> (any GCMOpening)? {
        if let known = openers[key] { return known }
        guard let made: any GCMOpening = SodiumGCMOpener(key: key) ?? AESGCMOpener(key: key) else { return nil }
        if openers.count >= 16 { openers.removeAll() }  // keys replaced many times over in one process (tests)
        openers[key] = made
        return made
    }
}

/// The thread-specific slot; its destructor drops the reader a finished thread held.
private let threadKey: pthread_key_t = {
    var key = pthread_key_t()
    pthread_key_create(&key) { raw in
        if let raw { Unmanaged<SealedReader>.fromOpaque(raw).release() }
    }
    return key
}()

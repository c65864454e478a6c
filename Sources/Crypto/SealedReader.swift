#if canImport(Glibc)
import Glibc
#endif
import Support

/// Opens sealed values on one thread: one AES-GCM context per thread and key, set up with the
/// HKDF-derived key once and kept for the thread's life (responder threads serve for hours), and
/// one output buffer reused for every value. Per value only the nonce changes.
public final class SealedReader {
    /// Contexts by derived key; a handful at most (purposes times current and previous keys).
    private var openers: [[UInt8]: AESGCMOpener] = [:]
    private var output: [UInt8] = []

    private init() {}

    /// This thread's reader, made on first use and released when the thread ends.
    public static func forThisThread() -> SealedReader {
        if let raw = pthread_getspecific(threadKey) { return Unmanaged<SealedReader>.fromOpaque(raw).takeUnretainedValue() }
        let reader = SealedReader()
        pthread_setspecific(threadKey, Unmanaged.passRetained(reader).toOpaque())
        return reader
    }

    /// Opens a blob (`SealedBlob`) bound to `place` and hands its plaintext to `body`; the bytes
    /// are valid only inside `body`. A key the keyring does not hold is `unknownKey`.
    public func open<R>(blob: UnsafeRawBufferPointer, keyring: Keyring, purpose: KeyPurpose, place: UnsafeBufferPointer<UInt8>,
                        _ body: (UnsafeBufferPointer<UInt8>) throws(EnvelopeError) -> R) throws(EnvelopeError) -> R {
        guard let (word, payload) = SealedBlob.split(blob) else { throw .malformed }
        guard let key = keyring.key(word: word) else { throw .unknownKey(SealedBlob.idHex(word)) }
        guard let derived = key.derived[purpose], let opener = opener(derived) else { throw .authenticationFailed }
        let needed = payload.count + 16
        if output.count < needed { output = [UInt8](repeating: 0, count: max(needed, 2 * output.count, 4096)) }
        let result = output.withUnsafeMutableBufferPointer { out in
            Result { () throws(EnvelopeError) -> R in
                guard let base = out.baseAddress, let count = opener.open(payload: payload, aad: place, into: base) else {
                    throw .authenticationFailed
                }
                return try body(UnsafeBufferPointer(start: base, count: count))
            }
        }
        return try result.get()
    }

    private func opener(_ key: [UInt8]) -> AESGCMOpener? {
        if let known = openers[key] { return known }
        guard let made = AESGCMOpener(key: key) else { return nil }
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

import CSodium

/// Opens AES-256-GCM values with libsodium's AES-NI code: the same algorithm, nonce and tag sizes
/// as `AESGCM` (OpenSSL), at about half the cost per short value, which is what reading a long
/// encrypted transcript pays 200 times per request (issue 14). Used only where the CPU has AES-NI
/// and CLMUL (libsodium checks); sealing always goes through OpenSSL.
final class SodiumGCMOpener: GCMOpening {
    static let available: Bool = sodium_init() >= 0 && crypto_aead_aes256gcm_is_available() == 1

    /// The expanded key (libsodium's state), 16-byte aligned as its header asks.
    private let state: UnsafeMutableRawPointer
    private let size = crypto_aead_aes256gcm_statebytes()

    init?(key: [UInt8]) {
        guard Self.available, key.count == Int(crypto_aead_aes256gcm_keybytes()) else { return nil }
        state = .allocate(byteCount: size, alignment: 16)
        let typed = state.bindMemory(to: crypto_aead_aes256gcm_state.self, capacity: 1)
        guard crypto_aead_aes256gcm_beforenm(typed, key) == 0 else {
            state.deallocate()
            return nil
        }
    }

    deinit {
        sodium_memzero(state, size)
        state.deallocate()
    }

    func open(payload: UnsafeRawBufferPointer, aad: UnsafeBufferPointer<UInt8>, into out: UnsafeMutablePointer<UInt8>) -> Int? {
        guard payload.count >= AESGCM.nonceSize + AESGCM.tagSize,
            let base = payload.baseAddress?.assumingMemoryBound(to: UInt8.self)
        else { return nil }
        var length: UInt64 = 0
        let typed = state.assumingMemoryBound(to: crypto_aead_aes256gcm_state.self)
        let rc = crypto_aead_aes256gcm_decrypt_afternm(
            out, &length, nil, base + AESGCM.nonceSize, UInt64(payload.count - AESGCM.nonceSize),
            aad.baseAddress, UInt64(aad.count), base, typed)
        return rc == 0 ? Int(length) : nil
    }
}

/// One key set up for opening many values (`AESGCMOpener`, `SodiumGCMOpener`).
protocol GCMOpening: AnyObject {
    /// Decrypts `payload` (nonce | ciphertext | tag) into `out` (at least the ciphertext's length
    /// plus 16 bytes); the plaintext's length, or nil when it does not open.
    func open(payload: UnsafeRawBufferPointer, aad: UnsafeBufferPointer<UInt8>, into out: UnsafeMutablePointer<UInt8>) -> Int?
}

extension AESGCMOpener: GCMOpening {}

import CCrypto

/// AES-256-GCM through OpenSSL's EVP interface: 12-byte nonce, 16-byte tag.
public enum AESGCM {
    public static let nonceSize = 12
    public static let tagSize = 16

    /// Fetched once: OpenSSL 3 otherwise looks the implementation up on every init, which cost
    /// more than the decryption itself for short transcript rows.
    nonisolated(unsafe) static let cipher: OpaquePointer? = EVP_CIPHER_fetch(nil, "AES-256-GCM", nil) ?? EVP_aes_256_gcm()

    public static func seal(key: [UInt8], nonce: [UInt8], plaintext: [UInt8], aad: [UInt8]) throws(CryptoError) -> (
        ciphertext: [UInt8], tag: [UInt8]
    ) {
        guard key.count == 32, nonce.count == nonceSize else { throw CryptoError("bad key or nonce size") }
        guard let ctx = EVP_CIPHER_CTX_new() else { throw CryptoError("no cipher context") }
        defer { EVP_CIPHER_CTX_free(ctx) }
        var out = [UInt8](repeating: 0, count: plaintext.count + 16)
        var length: Int32 = 0
        var total = 0
        guard EVP_EncryptInit_ex(ctx, cipher, nil, nil, nil) == 1,
            EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_AEAD_SET_IVLEN, Int32(nonceSize), nil) == 1,
            EVP_EncryptInit_ex(ctx, nil, nil, key, nonce) == 1
        else { throw CryptoError("encrypt init") }
        if !aad.isEmpty {
            guard EVP_EncryptUpdate(ctx, nil, &length, aad, Int32(aad.count)) == 1 else { throw CryptoError("aad") }
        }
        if !plaintext.isEmpty {
            guard EVP_EncryptUpdate(ctx, &out, &length, plaintext, Int32(plaintext.count)) == 1 else { throw CryptoError("encrypt") }
            total = Int(length)
        }
        let finalOK = out.withUnsafeMutableBufferPointer { buf in
            EVP_EncryptFinal_ex(ctx, buf.baseAddress! + total, &length) == 1
        }
        guard finalOK else { throw CryptoError("encrypt final") }
        total += Int(length)
        var tag = [UInt8](repeating: 0, count: tagSize)
        guard EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_AEAD_GET_TAG, Int32(tagSize), &tag) == 1 else { throw CryptoError("tag") }
        return (Array(out.prefix(total)), tag)
    }

    /// Fails (throws) on any change to key, nonce, ciphertext, tag or associated data.
    public static func open(key: [UInt8], nonce: [UInt8], ciphertext: [UInt8], tag: [UInt8], aad: [UInt8]) throws(CryptoError) -> [UInt8] {
        guard let opener = AESGCMOpener(key: key) else { throw CryptoError("bad key or cipher context") }
        return try opener.open(nonce: nonce[...], ciphertext: ciphertext[...], tag: tag[...], aad: aad)
    }
}

/// AES-256-GCM decryption with one key kept set up across many values: only the nonce changes
/// per value, so the key schedule is computed once. One instance belongs to one thread.
public final class AESGCMOpener {
    let ctx: OpaquePointer

    public init?(key: [UInt8]) {
        guard key.count == 32, let ctx = EVP_CIPHER_CTX_new() else { return nil }
        self.ctx = ctx
        guard EVP_DecryptInit_ex(ctx, AESGCM.cipher, nil, nil, nil) == 1,
            EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_AEAD_SET_IVLEN, Int32(AESGCM.nonceSize), nil) == 1,
            EVP_DecryptInit_ex(ctx, nil, nil, key, nil) == 1
        else { return nil }
    }

    deinit { EVP_CIPHER_CTX_free(ctx) }

    /// Decrypts `payload` (nonce | ciphertext | tag) into `out`, which holds at least the
    /// ciphertext's length plus 16 bytes; the plaintext's length, or nil when it does not open.
    func open(payload: UnsafeRawBufferPointer, aad: UnsafeBufferPointer<UInt8>, into out: UnsafeMutablePointer<UInt8>) -> Int? {
        let textCount = payload.count - AESGCM.nonceSize - AESGCM.tagSize
        guard textCount >= 0, let base = payload.baseAddress?.assumingMemoryBound(to: UInt8.self) else { return nil }
        var length: Int32 = 0
        guard EVP_DecryptInit_ex(ctx, nil, nil, nil, base) == 1 else { return nil }
        if let a = aad.baseAddress, aad.count > 0, EVP_DecryptUpdate(ctx, nil, &length, a, Int32(aad.count)) != 1 { return nil }
        var total = 0
        if textCount > 0 {
            guard EVP_DecryptUpdate(ctx, out, &length, base + AESGCM.nonceSize, Int32(textCount)) == 1 else { return nil }
            total = Int(length)
        }
        let tag = UnsafeMutableRawPointer(mutating: base + AESGCM.nonceSize + textCount)
        guard EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_AEAD_SET_TAG, Int32(AESGCM.tagSize), tag) == 1,
            EVP_DecryptFinal_ex(ctx, out + total, &length) > 0
        else { return nil }
        return total + Int(length)
    }

    public func open(nonce: ArraySlice<UInt8>, ciphertext: ArraySlice<UInt8>, tag: ArraySlice<UInt8>, aad: [UInt8]) throws(CryptoError)
        -> [UInt8]
    {
        guard nonce.count == AESGCM.nonceSize, tag.count == AESGCM.tagSize else { throw CryptoError("bad sizes") }
        var out = [UInt8](repeating: 0, count: ciphertext.count + 16)
        var length: Int32 = 0
        var total = 0
        let ok: Bool = nonce.withUnsafeBufferPointer { n in
            ciphertext.withUnsafeBufferPointer { c in
                tag.withUnsafeBufferPointer { t in
                    out.withUnsafeMutableBufferPointer { o in
                        guard EVP_DecryptInit_ex(ctx, nil, nil, nil, n.baseAddress) == 1 else { return false }
                        if !aad.isEmpty, EVP_DecryptUpdate(ctx, nil, &length, aad, Int32(aad.count)) != 1 { return false }
                        if c.count > 0 {
                            guard EVP_DecryptUpdate(ctx, o.baseAddress, &length, c.baseAddress, Int32(c.count)) == 1 else { return false }
                            total = Int(length)
                        }
                        guard
                            EVP_CIPHER_CTX_ctrl(
                                ctx, EVP_CTRL_AEAD_SET_TAG, Int32(AESGCM.tagSize), UnsafeMutableRawPointer(mutating: t.baseAddress)) == 1,
                            EVP_DecryptFinal_ex(ctx, o.baseAddress! + total, &length) > 0
                        else { return false }
                        total += Int(length)
                        return true
                    }
                }
            }
        }
        guard ok else { throw CryptoError("authentication failed") }
        return Array(out.prefix(total))
    }
}

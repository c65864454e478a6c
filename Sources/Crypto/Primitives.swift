import CCrypto

/// Thin, typed entry points over OpenSSL's libcrypto. Every unsafe pointer of the
/// library stays inside this module.
public enum Random {
    public static func bytes(_ count: Int) -> [UInt8] {
        var out = [UInt8](repeating: 0, count: count)
        // RAND_bytes only fails when the OS entropy source is broken; continuing would be unsafe.
        guard RAND_bytes(&out, Int32(count)) == 1 else { fatalError("RAND_bytes failed: no entropy") }
        return out
    }
}

public enum Digest {
    public static func sha256(_ data: [UInt8]) -> [UInt8] {
        var out = [UInt8](repeating: 0, count: 32)
        _ = data.withUnsafeBufferPointer { SHA256($0.baseAddress, $0.count, &out) }
        return out
    }

    public static func sha256(_ text: String) -> [UInt8] { sha256(Array(text.utf8)) }

    public static func hmacSHA256(key: [UInt8], data: [UInt8]) -> [UInt8] {
        var out = [UInt8](repeating: 0, count: 32)
        var length: UInt32 = 32
        _ = key.withUnsafeBufferPointer { k in
            data.withUnsafeBufferPointer { d in
                HMAC(EVP_sha256(), k.baseAddress, Int32(k.count), d.baseAddress, d.count, &out, &length)
            }
        }
        return out
    }
}

public enum KDF {
    /// HKDF-SHA256 (RFC 5869) through OpenSSL's EVP_PKEY HKDF interface. (The OSSL_PARAM route
    /// keeps pointers to parameter names, which Swift string bridging does not keep alive.)
    public static func hkdfSHA256(key: [UInt8], salt: [UInt8], info: [UInt8], length: Int) throws(CryptoError) -> [UInt8] {
        guard let ctx = EVP_PKEY_CTX_new_id(EVP_PKEY_HKDF, nil) else { throw CryptoError("HKDF unavailable") }
        defer { EVP_PKEY_CTX_free(ctx) }
        var out = [UInt8](repeating: 0, count: length)
        var outLength = length
        guard EVP_PKEY_derive_init(ctx) == 1, EVP_PKEY_CTX_set_hkdf_md(ctx, EVP_sha256()) == 1,
            salt.isEmpty || EVP_PKEY_CTX_set1_hkdf_salt(ctx, salt, Int32(salt.count)) == 1,
            EVP_PKEY_CTX_set1_hkdf_key(ctx, key, Int32(key.count)) == 1,
            info.isEmpty || EVP_PKEY_CTX_add1_hkdf_info(ctx, info, Int32(info.count)) == 1,
            EVP_PKEY_derive(ctx, &out, &outLength) == 1, outLength == length
        else {
            throw CryptoError("HKDF derive failed")
        }
        return out
    }

    /// scrypt (RFC 7914): memory-hard, so password guessing on stolen hashes is expensive.
    public static func scrypt(password: [UInt8], salt: [UInt8], logN: Int, r: Int, p: Int, length: Int) throws(CryptoError) -> [UInt8] {
        var out = [UInt8](repeating: 0, count: length)
        let n = UInt64(1) << UInt64(logN)
        let maxMemory = UInt64(128 * r) * n * 2 + (1 << 20)
        let rc = password.withUnsafeBufferPointer { pw in
            salt.withUnsafeBufferPointer { s in
                password.withUnsafeBytes { pwRaw in
                    EVP_PBE_scrypt(
                        pwRaw.baseAddress?.assumingMemoryBound(to: CChar.self), pw.count,
                        s.baseAddress, s.count, n, UInt64(r), UInt64(p), maxMemory, &out, length)
                }
            }
        }
        guard rc == 1 else { throw CryptoError("scrypt failed") }
        return out
    }
}

/// One HKDF subkey per use of a master secret, so no public value (a key id, a table name, an
/// id sent to a provider) is a plain function of the secret itself.
public enum Subkey {
    public static func derive(_ master: String, _ label: String, length: Int = 32) -> [UInt8] {
        (try? KDF.hkdfSHA256(
            key: Array(master.utf8), salt: Array("cryotensor".utf8),
            info: Array("cryotensor v1 subkey \(label)".utf8), length: length)) ?? Digest.sha256(label + master)
    }
}

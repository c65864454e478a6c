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
    /// HKDF-SHA256 (RFC 5869) through OpenSSL's EVP_KDF interface.
    public static func hkdfSHA256(key: [UInt8], salt: [UInt8], info: [UInt8], length: Int) throws(CryptoError) -> [UInt8] {
        guard let kdf = EVP_KDF_fetch(nil, "HKDF", nil) else { throw CryptoError("HKDF unavailable") }
        defer { EVP_KDF_free(kdf) }
        guard let ctx = EVP_KDF_CTX_new(kdf) else { throw CryptoError("HKDF context") }
        defer { EVP_KDF_CTX_free(ctx) }
        var out = [UInt8](repeating: 0, count: length)
        var key = key, salt = salt, info = info
        let digest = Array("SHA256".utf8CString)
        let rc: Int32 = digest.withUnsafeBufferPointer { d in
            key.withUnsafeMutableBufferPointer { k in
                salt.withUnsafeMutableBufferPointer { s in
                    info.withUnsafeMutableBufferPointer { i in
                        var params: [OSSL_PARAM] = [
                            OSSL_PARAM_construct_utf8_string(OSSL_KDF_PARAM_DIGEST, UnsafeMutablePointer(mutating: d.baseAddress), 0),
                            OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_KEY, k.baseAddress, k.count),
                            OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_SALT, s.baseAddress, s.count),
                            OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_INFO, i.baseAddress, i.count),
                            OSSL_PARAM_construct_end(),
                        ]
                        return EVP_KDF_derive(ctx, &out, out.count, &params)
                    }
                }
            }
        }
        guard rc == 1 else { throw CryptoError("HKDF derive failed") }
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
                    EVP_PBE_scrypt(pwRaw.baseAddress?.assumingMemoryBound(to: CChar.self), pw.count,
                                   s.baseAddress, s.count, n, UInt64(r), UInt64(p), maxMemory, &out, length)
                }
            }
        }
        guard rc == 1 else { throw CryptoError("scrypt failed") }
        return out
    }
}

import Crypto

public enum Passwords {
    /// 20 characters from an unambiguous alphabet: about 115 bits.
    public static func generate() -> String {
        let alphabet = Array("abcdefghijkmnopqrstuvwxyzABCDEFGHJKLMNPQRSTUVWXYZ23456789")
        let limit = 256 - 256 % alphabet.count  // rejection sampling: no modulo bias
        var out = ""
        while out.count < 20 {
            for byte in Random.bytes(32) where Int(byte) < limit && out.count < 20 {
                out.append(alphabet[Int(byte) % alphabet.count])
            }
        }
        return out
    }
}

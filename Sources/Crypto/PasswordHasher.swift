import Support

/// Password storage: `scrypt$<logN>$<r>$<p>$<salt b64>$<hash b64>`.
/// Parameters travel with the hash so they can be raised later without breaking old rows.
public struct PasswordHasher: Sendable {
    public var logN: Int
    public var r: Int
    public var p: Int

    /// N=2^15, r=8, p=1: 32 MiB and about 0.1 s per hash on these machines.
    public static let standard = PasswordHasher(logN: 15, r: 8, p: 1)

    public init(logN: Int, r: Int, p: Int) {
        self.logN = logN
        self.r = r
        self.p = p
    }

    public func hash(_ password: String) throws(CryptoError) -> String {
        let salt = Random.bytes(16)
        let derived = try KDF.scrypt(password: Array(password.utf8), salt: salt, logN: logN, r: r, p: p, length: 32)
        return "scrypt$\(logN)$\(r)$\(p)$\(Encoding.base64(salt))$\(Encoding.base64(derived))"
    }

    /// Constant-time check; a malformed stored hash never verifies.
    public static func verify(_ password: String, against stored: String) -> Bool {
        let parts = stored.split(separator: "$", omittingEmptySubsequences: false).map(String.init)
        guard parts.count == 6, parts[0] == "scrypt",
            let logN = Int(parts[1]), let r = Int(parts[2]), let p = Int(parts[3]),
            (10...20).contains(logN), (1...32).contains(r), (1...16).contains(p),
            let salt = Encoding.fromBase64(parts[4]), let expected = Encoding.fromBase64(parts[5]), expected.count == 32,
            let derived = try? KDF.scrypt(password: Array(password.utf8), salt: salt, logN: logN, r: r, p: p, length: 32)
        else { return false }
        return Encoding.constantTimeEqual(derived, expected)
    }

    /// A hash of a random password, verified against when an account does not exist,
    /// so response time does not reveal which emails are registered.
    public static let decoy: String = (try? PasswordHasher.standard.hash(Encoding.hex(Random.bytes(16)))) ?? ""
}

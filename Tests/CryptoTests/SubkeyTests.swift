import Support
import Testing

@testable import Crypto

@Suite struct SubkeyTests {
    /// Public values come from per-use HKDF subkeys, never from the secret itself.
    @Test func keyIDsComeFromASubkeyAndOldEnvelopesStillOpen() throws {
        let master = "a-master-key-of-at-least-thirty-two-characters"
        let oldID = Keyring.legacyKeyID(master)
        #expect(Keyring.keyID(master) != oldID)
        #expect(Keyring.keyID(master).count == 8)
        let keyring = Keyring(current: master, previous: [])
        let sealed = try keyring.seal("sk-secret", purpose: .configSecret, place: "p")
        // An envelope written by an earlier version names the key by its old id.
        let written = "ct1." + oldID + sealed.dropFirst(12)
        #expect(try keyring.openString(String(written), purpose: .configSecret, place: "p") == "sk-secret")
        #expect(Subkey.derive(master, "a") != Subkey.derive(master, "b"))
        #expect(Subkey.derive(master, "a").count == 32)
    }
}

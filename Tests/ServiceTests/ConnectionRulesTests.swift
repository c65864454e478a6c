import Storage
import Support
import Testing

@testable import Service

/// The connection rules of SPEC section 4, without HTTP: what is written, and what never is.
@Suite struct ConnectionRulesTests {
    func create(_ f: DomainFixture, _ object: [String: JSON]) throws -> Int64 {
        let (draft, problems) = ConnectionRules.validate(
            object, at: "", config: f.config, existing: nil, currentKey: nil,
            keyRequired: false, allowCiphertext: false)
        let valid = try #require(draft, "\(problems.map(\.message))")
        let written = try f.db.transaction { try ConnectionRules.write(valid, existingID: nil, db: f.db, vault: f.shared.vault) }
        written.afterCommit()
        return written.id
    }

    @Test func aKeyIsSealedToItsRowAndNeverStoredInPlaintext() throws {
        let f = try DomainFixture()
        let id = try create(f, ["name": "main", "base_url": "https://API.example.com/v1/", "api_key": "sk-domain-secret-4242424242"])
        let record = try #require(try ConnectionRepository(f.db).find(id: id))
        #expect(record.baseURL == "https://api.example.com/v1", "stored in normal form")
        #expect(ConnectionRules.key(of: record, vault: f.shared.vault) == "sk-domain-secret-4242424242")
        #expect(try !f.databaseBytes().contains("sk-domain-secret"))
        // The envelope is bound to its row: under another connection's id it does not open.
        let moved = ConnectionRecord(
            id: id + 1, name: "copy", kind: "openai", baseURL: record.baseURL, apiVersion: nil, enabled: true,
            apiKeyCiphertext: record.apiKeyCiphertext)
        #expect(ConnectionRules.key(of: moved, vault: f.shared.vault) == nil)
    }

    @Test func aNewBaseURLNeverCarriesTheOldKey() throws {
        let f = try DomainFixture()
        let id = try create(f, ["name": "main", "base_url": "https://api.example.com/v1", "api_key": "sk-domain-secret-4242424242"])
        let existing = try #require(try ConnectionRepository(f.db).find(id: id))
        let current = ConnectionRules.key(of: existing, vault: f.shared.vault)
        // An update must bring the key again or clear it.
        let (refused, problems) = ConnectionRules.validate(
            ["base_url": "https://other.example.com/v1"], at: "", config: f.config,
            existing: existing, currentKey: current, keyRequired: true,
            allowCiphertext: false)
        #expect(refused == nil && problems.map(\.code) == [.secretRequired])
        // Whatever path leads to a write with the key kept (an import whose key was dropped), a new URL clears it.
        let (draft, _) = ConnectionRules.validate(
            ["base_url": "https://other.example.com/v1"], at: "", config: f.config,
            existing: existing, currentKey: current, keyRequired: false, allowCiphertext: false)
        let kept = try #require(draft)
        let written = try f.db.transaction { try ConnectionRules.write(kept, existingID: id, db: f.db, vault: f.shared.vault) }
        written.afterCommit()
        let after = try #require(try ConnectionRepository(f.db).find(id: id))
        #expect(after.apiKeyCiphertext == nil && ConnectionRules.key(of: after, vault: f.shared.vault) == nil)
    }

    @Test func masksDisallowedURLsAndStrayFieldsAreRefusedWithTheirPaths() throws {
        let f = try DomainFixture()
        let cases: [([String: JSON], ErrorCode, String)] = [
            (["name": "a", "base_url": "https://evil.example.net/v1", "api_key": "sk-x"], .baseURLNotAllowed, "c.base_url"),
            (["name": "a", "base_url": "https://api.example.com/v1", "api_key": "sk-…a1b2"], .maskedValueRejected, "c.api_key"),
            (["name": "a", "base_url": "https://api.example.com/v1", "api_key": "sk x"], .invalidField, "c.api_key"),
            (["name": "a", "base_url": "https://api.example.com/v1", "extra": true], .invalidField, "c.extra"),
            (["name": "", "base_url": "https://api.example.com/v1"], .invalidField, "c.name"),
            (["name": "a", "kind": "azure_openai", "base_url": "https://api.example.com/v1"], .invalidField, "c.api_version")
        ]
        for (object, code, path) in cases {
            let (draft, problems) = ConnectionRules.validate(
                object, at: "c", config: f.config, existing: nil, currentKey: nil,
                keyRequired: false, allowCiphertext: false)
            #expect(draft == nil)
            #expect(problems.first?.code == code && problems.first?.path == path, "\(object): \(problems)")
        }
    }

    @Test func withoutTheKeyASecretLivesInMemoryOnly() throws {
        let f = try DomainFixture(key: nil)
        let id = try create(f, ["name": "mem", "base_url": "https://api.example.com/v1", "api_key": "sk-memory-only-777777777"])
        let record = try #require(try ConnectionRepository(f.db).find(id: id))
        #expect(record.apiKeyCiphertext == nil)
        #expect(ConnectionRules.key(of: record, vault: f.shared.vault) == "sk-memory-only-777777777")
        #expect(try !f.databaseBytes().contains("sk-memory-only"))
    }
}

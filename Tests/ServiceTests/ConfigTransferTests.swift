import Storage
import Support
import Testing

@testable import Service

/// Export and import (SPEC section 6) without HTTP: all or nothing, secrets sealed or dropped.
@Suite struct ConfigTransferTests {
    static let connection: JSON = ["name": "main", "base_url": "https://api.example.com/v1", "api_key": "sk-transfer-secret-31337"]

    @Test func anEncryptedExportMovesKeysToAFreshDatabaseWithTheSameKey() throws {
        let source = try DomainFixture()
        let imported = try ConfigTransfer.importDocument(source.scope, ["connections": [Self.connection]], dryRun: false)
        #expect(imported["created"] == 1)
        let document = try ConfigTransfer.export(source.scope, secrets: "encrypted")
        #expect(!document.serialized().contains("sk-transfer-secret"), "an export never holds a key in plaintext")
        let plain = try ConfigTransfer.export(source.scope, secrets: "omit")
        #expect(plain["omitted_secrets"] == ["connections[0].api_key"])

        let target = try DomainFixture()
        _ = try ConfigTransfer.importDocument(target.scope, try #require(document.objectValue), dryRun: false)
        let record = try #require(try ConnectionRepository(target.db).find(name: "main"))
        #expect(ConnectionRules.key(of: record, vault: target.shared.vault) == "sk-transfer-secret-31337")

        // Under another key the sealed secret does not open, and nothing is written.
        let stranger = try DomainFixture(key: DomainFixture.otherKey)
        #expect(throws: ServiceError.self) {
            try ConfigTransfer.importDocument(stranger.scope, try #require(document.objectValue), dryRun: false)
        }
        #expect(try ConnectionRepository(stranger.db).all().isEmpty)
    }

    @Test func oneBadEntryWritesNothingAndEveryProblemHasItsPath() throws {
        let f = try DomainFixture()
        let document: [String: JSON] = [
            "settings": ["remote_file_max_size_mb": 7],
            "connections": [Self.connection, ["name": "bad", "base_url": "https://evil.example.net/v1"], Self.connection]
        ]
        do {
            _ = try ConfigTransfer.importDocument(f.scope, document, dryRun: false)
            Issue.record("an invalid import was applied")
        } catch let error as ServiceError {
            #expect(error.code == .importInvalid && error.status == 422)
            let paths = error.extra["problems"]?.arrayValue?.compactMap { $0["path"]?.stringValue } ?? []
            #expect(paths.contains("connections[1].base_url") && paths.contains("connections[2].name"), "\(paths)")
        }
        #expect(try ConnectionRepository(f.db).all().isEmpty)
        #expect(try RuntimeSettingsRepository(f.db).all().isEmpty, "the valid settings part was not applied either")
    }

    @Test func aDryRunWritesNothingAndWithoutTheKeySecretsAreDropped() throws {
        let f = try DomainFixture(key: nil)
        let preview = try ConfigTransfer.importDocument(f.scope, ["connections": [Self.connection]], dryRun: true)
        #expect(preview["applied"] == false && preview["created"] == 1)
        #expect(try ConnectionRepository(f.db).all().isEmpty)
        let applied = try ConfigTransfer.importDocument(f.scope, ["connections": [Self.connection]], dryRun: false)
        #expect(applied["dropped_secrets"] == ["connections[0].api_key"])
        let record = try #require(try ConnectionRepository(f.db).find(name: "main"))
        #expect(ConnectionRules.key(of: record, vault: f.shared.vault) == nil, "never stored from an import without the key")
    }
}

extension ConfigTransferTests {
    @Test func problemsFoundBeforeJoinTheDomainsInOne422() throws {
        let f = try DomainFixture()
        let earlier = [Problem(path: "settings", code: .invalidField, message: "'settings' must be an object.")]
        do {
            _ = try ConfigTransfer.importDocument(
                f.scope, ["settings": [], "connections": [["name": "x"]]], dryRun: false,
                problems: earlier)
            Issue.record("applied")
        } catch let error as ServiceError {
            let paths = error.extra["problems"]?.arrayValue?.compactMap { $0["path"]?.stringValue } ?? []
            #expect(error.status == 422 && paths.first == "settings" && paths.filter { $0 == "settings" }.count == 1, "\(paths)")
            #expect(paths.contains("connections[0].base_url"))
        }
    }
}

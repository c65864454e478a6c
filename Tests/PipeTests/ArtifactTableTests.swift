import Dispatch
import Foundation
import Pipe
import Postgres
import Storage
import Support
import Synchronization
import TestSupport
import Testing

/// The per-key artifact table on both engines: made once when turns (or responders) start
/// together on a fresh key, then written and read.
@Suite struct ArtifactTableTests {
    func open(_ engine: TestEngine, _ url: String, _ path: String) throws -> Database {
        engine == .postgresql ? try Database(.postgresql(try PostgresURL.parse(url).get())) : try Database(path: path)
    }

    @Test(arguments: TestEngine.available) func aNewTableIsMadeOnceByTurnsStartingTogether(engine: TestEngine) throws {
        let url = engine == .postgresql ? try TestPostgres.freshDatabaseURL(prefix: "ct_artifacts") : ""
        let path = NSTemporaryDirectory() + "ct-artifacts-\(UUID().uuidString).db"
        let db = try open(engine, url, path)
        try Migrations.apply(db)
        let user = try UserRepository(db).create(email: "a@example.com", passwordHash: "h", role: .user)
        let chat = try ChatRepository(db).create(userID: user.id, model: nil)
        // A key no other test uses: each thread's store sees no table yet.
        let sealing = ArtifactSealing(
            artifactKey: "artifact-race-\(UUID().uuidString)", fallbackKey: nil, localEncryption: false, encryptAll: false,
            compress: false, minCompressBytes: 0)
        // Connections opened first, so the tables are made at the same moment.
        let connections = Connections(try (0..<8).map { _ in try open(engine, url, path) })
        let failures = Mutex<[String]>([])
        DispatchQueue.concurrentPerform(iterations: 8) { i in
            do {
                let store = try ArtifactStore(db: connections.all[i], sealing: sealing)
                _ = try store.insert(
                    [ArtifactItem(id: "item-\(i)", type: "message", payload: ["n": .number(Double(i))])], chatID: chat, userID: user.id,
                    messageID: "1", model: "m")
            } catch {
                failures.withLock { $0.append("\(i): \(error)") }
            }
        }
        #expect(failures.withLock { $0 }.isEmpty, "\(failures.withLock { $0 })")
        let table = ArtifactStore.tableName(pipeID: Valves.pipeID, artifactKey: sealing.artifactKey)
        #expect(try db.queryOne("SELECT COUNT(*) AS n FROM \(table)")?.int("n") == 8)
    }
}

/// One connection per thread, handed over before the threads start.
final class Connections: @unchecked Sendable {
    let all: [Database]
    init(_ all: [Database]) { self.all = all }
}

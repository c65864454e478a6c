import Foundation
import Postgres
import Storage
import TestSupport

/// A new, empty store on `engine`: a temporary SQLite file, or a fresh database on the test
/// process's PostgreSQL cluster. The repositories' tests take the engine as an argument
/// (`TestEngine.available`), so every `swift test` runs them on both.
func freshDatabase(_ engine: TestEngine, _ name: String = "unit") throws -> Database {
    switch engine {
    case .sqlite:
        return try Database(path: NSTemporaryDirectory() + "ct-\(name)-\(UUID().uuidString).db")
    case .postgresql:
        return try Database(.postgresql(try PostgresURL.parse(try TestPostgres.freshDatabaseURL(prefix: "ct_\(name)")).get()))
    }
}

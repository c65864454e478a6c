/// The stored valves of a pipe (table `pipe_valves`): names and values as text. Secret valves are
/// stored in their EncryptedStr form; this repository never sees them in plaintext.
public struct PipeValveRepository {
    let db: Database
    public init(_ db: Database) { self.db = db }

    public func all(pipeID: String) throws(StorageError) -> [String: String] {
        var stored: [String: String] = [:]
        for row in try db.query("SELECT name, value FROM pipe_valves WHERE pipe_id = ?", [.text(pipeID)]) {
            if let n = row.text("name"), let v = row.text("value") { stored[n] = v }
        }
        return stored
    }

    /// Writes and clears together, inside the caller's transaction.
    public func apply(pipeID: String, writes: [String: String], clears: [String]) throws(StorageError) {
        for (name, value) in writes.sorted(by: { $0.key < $1.key }) {
            try db.run(
                "INSERT INTO pipe_valves (pipe_id, name, value) VALUES (?, ?, ?) "
                    + "ON CONFLICT(pipe_id, name) DO UPDATE SET value = excluded.value",
                [.text(pipeID), .text(name), .text(value)])
        }
        for name in clears {
            try db.run("DELETE FROM pipe_valves WHERE pipe_id = ? AND name = ?", [.text(pipeID), .text(name)])
        }
    }
}

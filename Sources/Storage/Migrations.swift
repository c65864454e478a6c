import Support

/// Versioned schema changes. Each entry runs once, in order, inside its own transaction;
/// the applied version is kept in `schema_migrations`.
public enum Migrations {
    public static let all: [(version: Int, name: String, sql: String)] = [
        (
            1, "accounts",
            """
            CREATE TABLE users (
                id INTEGER PRIMARY KEY,
                email TEXT NOT NULL UNIQUE COLLATE NOCASE,
                password_hash TEXT NOT NULL,
                role TEXT NOT NULL CHECK (role IN ('admin', 'user')),
                disabled INTEGER NOT NULL DEFAULT 0,
                created_at INTEGER NOT NULL
            );
            CREATE TABLE sessions (
                id INTEGER PRIMARY KEY,
                token_hash TEXT NOT NULL UNIQUE,
                csrf_hash TEXT NOT NULL,
                user_id INTEGER NOT NULL REFERENCES users(id) ON DELETE CASCADE,
                created_at INTEGER NOT NULL,
                expires_at INTEGER NOT NULL
            );
            CREATE INDEX sessions_user ON sessions(user_id);
            CREATE TABLE api_tokens (
                id INTEGER PRIMARY KEY,
                user_id INTEGER NOT NULL REFERENCES users(id) ON DELETE CASCADE,
                name TEXT NOT NULL,
                token_hash TEXT NOT NULL UNIQUE,
                prefix TEXT NOT NULL,
                created_at INTEGER NOT NULL,
                last_used_at INTEGER
            );
            CREATE INDEX api_tokens_user ON api_tokens(user_id);
            CREATE TABLE rate_limits (
                key TEXT PRIMARY KEY,
                window_start INTEGER NOT NULL,
                count INTEGER NOT NULL
            );
            """
        ),
        (
            2, "connections and runtime settings",
            """
            CREATE TABLE connections (
                id INTEGER PRIMARY KEY,
                name TEXT NOT NULL UNIQUE,
                kind TEXT NOT NULL CHECK (kind IN ('openai', 'azure_openai', 'gemini')),
                base_url TEXT NOT NULL,
                api_version TEXT,
                enabled INTEGER NOT NULL DEFAULT 1,
                api_key_ciphertext TEXT,
                created_at INTEGER NOT NULL,
                updated_at INTEGER NOT NULL
            );
            CREATE TABLE runtime_settings (
                name TEXT PRIMARY KEY,
                value TEXT NOT NULL
            );
            CREATE TABLE meta (
                key TEXT PRIMARY KEY,
                value INTEGER NOT NULL
            );
            INSERT INTO meta (key, value) VALUES ('config_version', 1);
            """
        ),
        (
            3, "chats and messages",
            """
            CREATE TABLE chats (
                id INTEGER PRIMARY KEY,
                user_id INTEGER NOT NULL REFERENCES users(id) ON DELETE CASCADE,
                title TEXT NOT NULL,
                title_encrypted INTEGER NOT NULL DEFAULT 0,
                model TEXT,
                created_at INTEGER NOT NULL,
                updated_at INTEGER NOT NULL
            );
            CREATE INDEX chats_user ON chats(user_id, updated_at);
            CREATE TABLE messages (
                id INTEGER PRIMARY KEY,
                chat_id INTEGER NOT NULL REFERENCES chats(id) ON DELETE CASCADE,
                role TEXT NOT NULL CHECK (role IN ('user', 'assistant', 'system')),
                content TEXT NOT NULL,
                content_encrypted INTEGER NOT NULL DEFAULT 0,
                model TEXT,
                status TEXT NOT NULL DEFAULT 'complete' CHECK (status IN ('complete', 'incomplete')),
                created_at INTEGER NOT NULL
            );
            CREATE INDEX messages_chat ON messages(chat_id, id);
            CREATE VIRTUAL TABLE chat_search USING fts5(body, chat_id UNINDEXED, user_id UNINDEXED, message_id UNINDEXED);
            """
        ),
        (
            4, "fetched files",
            """
            CREATE TABLE files (
                id INTEGER PRIMARY KEY,
                user_id INTEGER NOT NULL REFERENCES users(id) ON DELETE CASCADE,
                source_url TEXT NOT NULL,
                content_type TEXT NOT NULL,
                size INTEGER NOT NULL,
                sha256 TEXT NOT NULL,
                content BLOB NOT NULL,
                created_at INTEGER NOT NULL
            );
            CREATE INDEX files_user ON files(user_id);
            """
        ),
        (
            5, "pipe valves",
            """
            CREATE TABLE pipe_valves (
                pipe_id TEXT NOT NULL,
                name TEXT NOT NULL,
                value TEXT NOT NULL,
                PRIMARY KEY (pipe_id, name)
            );
            """
        ),
        (
            6, "ids never reused, search index follows deletions, status stopped",
            """
            CREATE TABLE users_v6 (
                id INTEGER PRIMARY KEY AUTOINCREMENT,
                email TEXT NOT NULL UNIQUE COLLATE NOCASE,
                password_hash TEXT NOT NULL,
                role TEXT NOT NULL CHECK (role IN ('admin', 'user')),
                disabled INTEGER NOT NULL DEFAULT 0,
                created_at INTEGER NOT NULL
            );
            INSERT INTO users_v6 (id, email, password_hash, role, disabled, created_at)
                SELECT id, email, password_hash, role, disabled, created_at FROM users;
            DROP TABLE users;
            ALTER TABLE users_v6 RENAME TO users;

            CREATE TABLE sessions_v6 (
                id INTEGER PRIMARY KEY AUTOINCREMENT,
                token_hash TEXT NOT NULL UNIQUE,
                csrf_hash TEXT NOT NULL,
                user_id INTEGER NOT NULL REFERENCES users(id) ON DELETE CASCADE,
                created_at INTEGER NOT NULL,
                expires_at INTEGER NOT NULL
            );
            INSERT INTO sessions_v6 SELECT id, token_hash, csrf_hash, user_id, created_at, expires_at FROM sessions;
            DROP TABLE sessions;
            ALTER TABLE sessions_v6 RENAME TO sessions;
            CREATE INDEX sessions_user ON sessions(user_id);

            CREATE TABLE api_tokens_v6 (
                id INTEGER PRIMARY KEY AUTOINCREMENT,
                user_id INTEGER NOT NULL REFERENCES users(id) ON DELETE CASCADE,
                name TEXT NOT NULL,
                token_hash TEXT NOT NULL UNIQUE,
                prefix TEXT NOT NULL,
                created_at INTEGER NOT NULL,
                last_used_at INTEGER
            );
            INSERT INTO api_tokens_v6 SELECT id, user_id, name, token_hash, prefix, created_at, last_used_at FROM api_tokens;
            DROP TABLE api_tokens;
            ALTER TABLE api_tokens_v6 RENAME TO api_tokens;
            CREATE INDEX api_tokens_user ON api_tokens(user_id);

            CREATE TABLE connections_v6 (
                id INTEGER PRIMARY KEY AUTOINCREMENT,
                name TEXT NOT NULL UNIQUE,
                kind TEXT NOT NULL CHECK (kind IN ('openai', 'azure_openai', 'gemini')),
                base_url TEXT NOT NULL,
                api_version TEXT,
                enabled INTEGER NOT NULL DEFAULT 1,
                api_key_ciphertext TEXT,
                created_at INTEGER NOT NULL,
                updated_at INTEGER NOT NULL
            );
            INSERT INTO connections_v6 SELECT id, name, kind, base_url, api_version, enabled, api_key_ciphertext, created_at, updated_at
                FROM connections;
            DROP TABLE connections;
            ALTER TABLE connections_v6 RENAME TO connections;

            CREATE TABLE chats_v6 (
                id INTEGER PRIMARY KEY AUTOINCREMENT,
                user_id INTEGER NOT NULL REFERENCES users(id) ON DELETE CASCADE,
                title TEXT NOT NULL,
                title_encrypted INTEGER NOT NULL DEFAULT 0,
                model TEXT,
                created_at INTEGER NOT NULL,
                updated_at INTEGER NOT NULL
            );
            INSERT INTO chats_v6 SELECT id, user_id, title, title_encrypted, model, created_at, updated_at FROM chats;
            DROP TABLE chats;
            ALTER TABLE chats_v6 RENAME TO chats;
            CREATE INDEX chats_user ON chats(user_id, updated_at);

            CREATE TABLE messages_v6 (
                id INTEGER PRIMARY KEY AUTOINCREMENT,
                chat_id INTEGER NOT NULL REFERENCES chats(id) ON DELETE CASCADE,
                role TEXT NOT NULL CHECK (role IN ('user', 'assistant', 'system')),
                content TEXT NOT NULL,
                content_encrypted INTEGER NOT NULL DEFAULT 0,
                model TEXT,
                status TEXT NOT NULL DEFAULT 'complete' CHECK (status IN ('complete', 'incomplete', 'stopped', 'interrupted', 'streaming')),
                created_at INTEGER NOT NULL
            );
            INSERT INTO messages_v6 SELECT id, chat_id, role, content, content_encrypted, model, status, created_at FROM messages;
            DROP TABLE messages;
            ALTER TABLE messages_v6 RENAME TO messages;
            CREATE INDEX messages_chat ON messages(chat_id, id);

            CREATE TABLE files_v6 (
                id INTEGER PRIMARY KEY AUTOINCREMENT,
                user_id INTEGER NOT NULL REFERENCES users(id) ON DELETE CASCADE,
                source_url TEXT NOT NULL,
                content_type TEXT NOT NULL,
                size INTEGER NOT NULL,
                sha256 TEXT NOT NULL,
                content BLOB NOT NULL,
                created_at INTEGER NOT NULL
            );
            INSERT INTO files_v6 SELECT id, user_id, source_url, content_type, size, sha256, content, created_at FROM files;
            DROP TABLE files;
            ALTER TABLE files_v6 RENAME TO files;
            CREATE INDEX files_user ON files(user_id);

            -- Index rows of chats and messages deleted before this version, and a trigger so a chat's
            -- deletion (direct or by cascade from its user) always takes its index rows with it.
            -- Messages are only ever deleted with their chat.
            DELETE FROM chat_search WHERE chat_id NOT IN (SELECT id FROM chats)
                OR (message_id != 0 AND message_id NOT IN (SELECT id FROM messages));
            CREATE TRIGGER chats_unindex AFTER DELETE ON chats BEGIN
                DELETE FROM chat_search WHERE chat_id = old.id;
            END;

            -- Keys the service makes for itself (the Redis cache MAC key), never shown anywhere.
            CREATE TABLE service_keys (
                name TEXT PRIMARY KEY,
                value BLOB NOT NULL
            );
            """
        ),
        // Batched, not one statement: see `batched` and EnvelopeBlobMigration.
        (7, "sealed transcripts as blobs", ""),
        (
            8, "audit trail",
            """
            -- Append-only: nothing updates an event, and only retention deletes, and only events older
            -- than the checkpoint it moved first (the triggers say so to anything but a raw sqlite3
            -- that drops them; `audit verify` catches that).
            CREATE TABLE audit_events (
                id INTEGER PRIMARY KEY AUTOINCREMENT,
                ts INTEGER NOT NULL,
                actor_type TEXT NOT NULL,
                actor_user_id INTEGER,
                actor_email TEXT,
                client TEXT,
                request_id TEXT,
                action TEXT NOT NULL,
                target_type TEXT,
                target_id TEXT,
                target_name TEXT,
                outcome TEXT NOT NULL,
                details TEXT NOT NULL,
                prev_id INTEGER NOT NULL,
                key_id TEXT NOT NULL,
                mac TEXT NOT NULL
            );
            CREATE INDEX audit_events_ts ON audit_events(ts);
            CREATE INDEX audit_events_action ON audit_events(action, id);
            CREATE INDEX audit_events_actor ON audit_events(actor_email, id);
            -- Where the chain starts after retention: the first kept event's predecessor and its mac.
            CREATE TABLE audit_checkpoint (
                id INTEGER PRIMARY KEY CHECK (id = 1),
                before_id INTEGER NOT NULL,
                before_mac TEXT NOT NULL,
                pruned INTEGER NOT NULL,
                updated_at INTEGER NOT NULL
            );
            CREATE TRIGGER audit_events_no_update BEFORE UPDATE ON audit_events BEGIN
                SELECT RAISE(ABORT, 'audit events are append-only');
            END;
            CREATE TRIGGER audit_events_no_delete BEFORE DELETE ON audit_events
                WHEN old.id > COALESCE((SELECT before_id FROM audit_checkpoint), 0) BEGIN
                SELECT RAISE(ABORT, 'audit events are deleted only by retention, behind the checkpoint');
            END;
            """
        )
    ]

    /// The same versions for PostgreSQL, in their final form: a PostgreSQL database starts empty
    /// (or from `copy-db`), so nothing has to be converted and v6/v7's SQLite rebuilds are no-ops.
    /// Integers are BIGINT (SQLite's INTEGER is 64-bit), blobs BYTEA, booleans 0/1 as BIGINT.
    /// Sealed transcripts stay text envelopes here: a PostgreSQL column holds one type.
    public static let postgres: [Int: String] = [
        1: """
        CREATE TABLE users (
            id BIGINT GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY,
            email TEXT NOT NULL UNIQUE,
            password_hash TEXT NOT NULL,
            role TEXT NOT NULL CHECK (role IN ('admin', 'user')),
            disabled BIGINT NOT NULL DEFAULT 0,
            created_at BIGINT NOT NULL
        );
        CREATE UNIQUE INDEX users_email_lower ON users (lower(email));
        CREATE TABLE sessions (
            id BIGINT GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY,
            token_hash TEXT NOT NULL UNIQUE,
            csrf_hash TEXT NOT NULL,
            user_id BIGINT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
            created_at BIGINT NOT NULL,
            expires_at BIGINT NOT NULL
        );
        CREATE INDEX sessions_user ON sessions(user_id);
        CREATE TABLE api_tokens (
            id BIGINT GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY,
            user_id BIGINT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
            name TEXT NOT NULL,
            token_hash TEXT NOT NULL UNIQUE,
            prefix TEXT NOT NULL,
            created_at BIGINT NOT NULL,
            last_used_at BIGINT
        );
        CREATE INDEX api_tokens_user ON api_tokens(user_id);
        CREATE TABLE rate_limits (
            key TEXT PRIMARY KEY,
            window_start BIGINT NOT NULL,
            count BIGINT NOT NULL
        );
        """,
        2: """
        CREATE TABLE connections (
            id BIGINT GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY,
            name TEXT NOT NULL UNIQUE,
            kind TEXT NOT NULL CHECK (kind IN ('openai', 'azure_openai', 'gemini')),
            base_url TEXT NOT NULL,
            api_version TEXT,
            enabled BIGINT NOT NULL DEFAULT 1,
            api_key_ciphertext TEXT,
            created_at BIGINT NOT NULL,
            updated_at BIGINT NOT NULL
        );
        CREATE TABLE runtime_settings (
            name TEXT PRIMARY KEY,
            value TEXT NOT NULL
        );
        CREATE TABLE meta (
            key TEXT PRIMARY KEY,
            value BIGINT NOT NULL
        );
        INSERT INTO meta (key, value) VALUES ('config_version', 1);
        """,
        3: """
        CREATE TABLE chats (
            id BIGINT GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY,
            user_id BIGINT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
            title TEXT NOT NULL,
            title_encrypted BIGINT NOT NULL DEFAULT 0,
            model TEXT,
            created_at BIGINT NOT NULL,
            updated_at BIGINT NOT NULL
        );
        CREATE INDEX chats_user ON chats(user_id, updated_at);
        CREATE TABLE messages (
            id BIGINT GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY,
            chat_id BIGINT NOT NULL REFERENCES chats(id) ON DELETE CASCADE,
            role TEXT NOT NULL CHECK (role IN ('user', 'assistant', 'system')),
            content TEXT NOT NULL,
            content_encrypted BIGINT NOT NULL DEFAULT 0,
            model TEXT,
            status TEXT NOT NULL DEFAULT 'complete'
                CHECK (status IN ('complete', 'incomplete', 'stopped', 'interrupted', 'streaming')),
            created_at BIGINT NOT NULL
        );
        CREATE INDEX messages_chat ON messages(chat_id, id);
        -- Full-text search (plaintext mode only). A chat's deletion takes its rows (the foreign key),
        -- as SQLite's trigger does. ASCII punctuation separates words, as in FTS5's unicode61 (the
        -- parser alone keeps emails, hosts and versions whole); other characters are the parser's,
        -- whatever the database's locale. Accents are not folded, unlike FTS5.
        CREATE TABLE chat_search (
            id BIGINT GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY,
            body TEXT NOT NULL,
            chat_id BIGINT NOT NULL REFERENCES chats(id) ON DELETE CASCADE,
            user_id BIGINT NOT NULL,
            message_id BIGINT NOT NULL,
            words tsvector
                GENERATED ALWAYS AS (to_tsvector('simple', regexp_replace(body, '[^0-9A-Za-z\\u0080-\\U0010FFFF]+', ' ', 'g'))) STORED
        );
        CREATE INDEX chat_search_words ON chat_search USING GIN (words);
        CREATE INDEX chat_search_owner ON chat_search(user_id, chat_id);
        """,
        4: """
        CREATE TABLE files (
            id BIGINT GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY,
            user_id BIGINT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
            source_url TEXT NOT NULL,
            content_type TEXT NOT NULL,
            size BIGINT NOT NULL,
            sha256 TEXT NOT NULL,
            content BYTEA NOT NULL,
            created_at BIGINT NOT NULL
        );
        CREATE INDEX files_user ON files(user_id);
        """,
        5: """
        CREATE TABLE pipe_valves (
            pipe_id TEXT NOT NULL,
            name TEXT NOT NULL,
            value TEXT NOT NULL,
            PRIMARY KEY (pipe_id, name)
        );
        """,
        6: """
        CREATE TABLE service_keys (
            name TEXT PRIMARY KEY,
            value BYTEA NOT NULL
        );
        """,
        7: "SELECT 1",
        8: """
        CREATE TABLE audit_events (
            id BIGINT GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY,
            ts BIGINT NOT NULL,
            actor_type TEXT NOT NULL,
            actor_user_id BIGINT,
            actor_email TEXT,
            client TEXT,
            request_id TEXT,
            action TEXT NOT NULL,
            target_type TEXT,
            target_id TEXT,
            target_name TEXT,
            outcome TEXT NOT NULL,
            details TEXT NOT NULL,
            prev_id BIGINT NOT NULL,
            key_id TEXT NOT NULL,
            mac TEXT NOT NULL
        );
        CREATE INDEX audit_events_ts ON audit_events(ts);
        CREATE INDEX audit_events_action ON audit_events(action, id);
        CREATE INDEX audit_events_actor ON audit_events(lower(actor_email), id);
        CREATE TABLE audit_checkpoint (
            id BIGINT PRIMARY KEY CHECK (id = 1),
            before_id BIGINT NOT NULL,
            before_mac TEXT NOT NULL,
            pruned BIGINT NOT NULL,
            updated_at BIGINT NOT NULL
        );
        CREATE FUNCTION audit_events_guard() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN
            IF TG_OP = 'UPDATE' THEN
                RAISE EXCEPTION 'audit events are append-only';
            END IF;
            IF old.id > COALESCE((SELECT before_id FROM audit_checkpoint), 0) THEN
                RAISE EXCEPTION 'audit events are deleted only by retention, behind the checkpoint';
            END IF;
            RETURN old;
        END $$;
        CREATE TRIGGER audit_events_no_change BEFORE UPDATE OR DELETE ON audit_events
            FOR EACH ROW EXECUTE FUNCTION audit_events_guard();
        """
    ]

    /// Versions that convert data in batches (each its own transaction) instead of running SQL
    /// in one; the version is recorded when every batch is done.
    static let batched: [Int: @Sendable (Database, (String) -> Void) throws(StorageError) -> Void] = [
        7: { db, progress throws(StorageError) in try EnvelopeBlobMigration.run(db, progress: progress) }
    ]

    /// Versions that rebuild tables other tables refer to: they run with foreign keys off (a
    /// DROP would otherwise cascade), and are checked with `foreign_key_check` before commit.
    static let rebuildsTables: Set<Int> = [6]

    public static var latest: Int { all.last?.version ?? 0 }

    public static func currentVersion(_ db: Database) throws(StorageError) -> Int {
        try db.execute(
            "CREATE TABLE IF NOT EXISTS schema_migrations (version INTEGER PRIMARY KEY, name TEXT NOT NULL, "
                + "applied_at INTEGER NOT NULL)")
        return Int(try db.queryOne("SELECT COALESCE(MAX(version), 0) AS v FROM schema_migrations")?.int("v") ?? 0)
    }

    /// Applies every pending migration up to `through` (tests build older schemas with it);
    /// returns the versions applied. Responders that start together on PostgreSQL take turns
    /// under an advisory lock, so each version runs once.
    @discardableResult
    public static func apply(_ db: Database, through: Int = latest, progress: (Int, String) -> Void = { _, _ in })
        throws(StorageError) -> [Int]
    {
        do {
            return try db.withStoreLock { () throws(StorageError) -> [Int] in try applyLocked(db, through: through, progress: progress) }
        } catch let error as StorageError {
            throw error
        } catch {
            throw StorageError(.migration, "migrations failed: \(error)")
        }
    }

    static func applyLocked(_ db: Database, through: Int, progress: (Int, String) -> Void) throws(StorageError) -> [Int] {
        let current = try currentVersion(db)
        guard current <= latest else {
            throw StorageError(.migration, "database schema \(current) is newer than this build (\(latest))")
        }
        let onPostgres = db.engine == .postgresql
        var applied: [Int] = []
        for migration in all where migration.version > current && migration.version <= through {
            progress(migration.version, migration.name)
            guard let sql = onPostgres ? postgres[migration.version] : migration.sql else {
                throw StorageError(.migration, "migration \(migration.version) has no PostgreSQL form")
            }
            if !onPostgres, let convert = batched[migration.version] {
                do {
                    try convert(db) { progress(migration.version, "\(migration.name): \($0)") }
                } catch {
                    throw StorageError(.migration, "migration \(migration.version) (\(migration.name)) failed: \(error.message)")
                }
            }
            let rebuild = !onPostgres && rebuildsTables.contains(migration.version)
            if rebuild { try db.execute("PRAGMA foreign_keys=OFF") }
            defer { if rebuild { try? db.execute("PRAGMA foreign_keys=ON") } }
            do {
                try db.transaction {
                    if !sql.isEmpty { try db.execute(sql) }
                    if rebuild, !(try db.query("PRAGMA foreign_key_check")).isEmpty {
                        throw StorageError(.migration, "foreign key check failed after rebuilding tables")
                    }
                    // DO NOTHING for a batched one: another process starting at the same time may have finished it.
                    try db.run(
                        "INSERT INTO schema_migrations (version, name, applied_at) VALUES (?, ?, ?) ON CONFLICT (version) DO NOTHING",
                        [.integer(Int64(migration.version)), .text(migration.name), .integer(Clock.now())])
                }
            } catch let error as StorageError {
                throw StorageError(.migration, "migration \(migration.version) (\(migration.name)) failed: \(error.message)")
            } catch {
                throw StorageError(.migration, "migration \(migration.version) failed")
            }
            applied.append(migration.version)
        }
        return applied
    }
}

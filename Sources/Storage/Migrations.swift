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
        ),
        (
            9, "answers in flight across responders",
            """
            -- Answers in flight when several responders share PostgreSQL (StreamCluster); unused on
            -- SQLite, kept so both engines have one schema history.
            CREATE TABLE stream_responders (
                id TEXT PRIMARY KEY,
                heartbeat_at INTEGER NOT NULL
            );
            CREATE TABLE live_streams (
                id TEXT PRIMARY KEY,
                responder TEXT NOT NULL,
                user_id INTEGER NOT NULL,
                chat_id INTEGER,
                stop_requested INTEGER NOT NULL DEFAULT 0
            );
            CREATE UNIQUE INDEX live_streams_chat ON live_streams(chat_id) WHERE chat_id IS NOT NULL;
            CREATE INDEX live_streams_user ON live_streams(user_id);
            CREATE INDEX live_streams_stop ON live_streams(responder) WHERE stop_requested = 1;
            CREATE INDEX messages_streaming ON messages(chat_id) WHERE status = 'streaming';
            """
        ),
        (
            10, "groups",
            """
            -- Ids are never reused (AUTOINCREMENT): a connection's allowed_groups may still name a
            -- deleted group, and a new group must never inherit that access.
            CREATE TABLE groups (
                id INTEGER PRIMARY KEY AUTOINCREMENT,
                name TEXT NOT NULL UNIQUE,
                source TEXT NOT NULL CHECK (source IN ('local', 'oidc')),
                daily_token_quota INTEGER CHECK (daily_token_quota IS NULL OR daily_token_quota >= 0),
                created_at INTEGER NOT NULL
            );
            CREATE TABLE group_members (
                group_id INTEGER NOT NULL REFERENCES groups(id) ON DELETE CASCADE,
                user_id INTEGER NOT NULL REFERENCES users(id) ON DELETE CASCADE,
                source TEXT NOT NULL CHECK (source IN ('local', 'oidc')),
                created_at INTEGER NOT NULL,
                PRIMARY KEY (group_id, user_id)
            );
            CREATE INDEX group_members_user ON group_members(user_id);
            """
        ),
        (
            11, "oidc sign-in",
            """
            -- One row per sign-in in progress (GET /auth/oidc/login), deleted when its callback comes
            -- (one-time) or when it expires. Only hashes of the state and of the browser's binding
            -- cookie are kept; the nonce and PKCE verifier are useless without the provider's code.
            CREATE TABLE oidc_states (
                id INTEGER PRIMARY KEY,
                state_hash TEXT NOT NULL UNIQUE,
                browser_hash TEXT NOT NULL,
                nonce TEXT NOT NULL,
                code_verifier TEXT NOT NULL,
                issuer TEXT NOT NULL,
                created_at INTEGER NOT NULL,
                expires_at INTEGER NOT NULL
            );
            CREATE INDEX oidc_states_expires ON oidc_states(expires_at);
            -- Accounts of an identity provider: matched by issuer and subject, never by email.
            CREATE TABLE user_identities (
                id INTEGER PRIMARY KEY,
                user_id INTEGER NOT NULL REFERENCES users(id) ON DELETE CASCADE,
                issuer TEXT NOT NULL,
                subject TEXT NOT NULL,
                created_at INTEGER NOT NULL,
                last_login_at INTEGER NOT NULL,
                UNIQUE (issuer, subject)
            );
            CREATE INDEX user_identities_user ON user_identities(user_id);
            """
        ),
        (
            12, "model access, usage and quotas",
            """
            -- Group ids a connection is limited to, as a JSON list; '[]': every user. No foreign key:
            -- a deleted group's id stays (ids are never reused), so the list never empties by itself
            -- into "everyone".
            ALTER TABLE connections ADD COLUMN allowed_groups TEXT NOT NULL DEFAULT '[]';
            -- Tokens per UTC day ('YYYY-MM-DD'), user and model; estimated_requests counts the answers
            -- whose tokens were estimated because the provider sent no usage.
            CREATE TABLE usage_daily (
                day TEXT NOT NULL,
                user_id INTEGER NOT NULL REFERENCES users(id) ON DELETE CASCADE,
                model TEXT NOT NULL,
                requests INTEGER NOT NULL DEFAULT 0,
                prompt_tokens INTEGER NOT NULL DEFAULT 0,
                completion_tokens INTEGER NOT NULL DEFAULT 0,
                estimated_requests INTEGER NOT NULL DEFAULT 0,
                PRIMARY KEY (day, user_id, model)
            );
            CREATE INDEX usage_daily_user ON usage_daily(user_id, day);
            -- The quota ledger: one row per user and UTC day, changed only by conditional updates.
            CREATE TABLE quota_days (
                user_id INTEGER NOT NULL REFERENCES users(id) ON DELETE CASCADE,
                day TEXT NOT NULL,
                used INTEGER NOT NULL DEFAULT 0 CHECK (used >= 0),
                reserved INTEGER NOT NULL DEFAULT 0 CHECK (reserved >= 0),
                PRIMARY KEY (user_id, day)
            );
            -- Reservations of answers in flight; one left by a responder that died expires.
            CREATE TABLE quota_reservations (
                id INTEGER PRIMARY KEY AUTOINCREMENT,
                user_id INTEGER NOT NULL REFERENCES users(id) ON DELETE CASCADE,
                day TEXT NOT NULL,
                tokens INTEGER NOT NULL CHECK (tokens >= 0),
                expires_at INTEGER NOT NULL
            );
            CREATE INDEX quota_reservations_user ON quota_reservations(user_id, expires_at);
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
        """,
        9: """
        CREATE TABLE stream_responders (
            id TEXT PRIMARY KEY,
            heartbeat_at BIGINT NOT NULL
        );
        CREATE TABLE live_streams (
            id TEXT PRIMARY KEY,
            responder TEXT NOT NULL,
            user_id BIGINT NOT NULL,
            chat_id BIGINT,
            stop_requested BIGINT NOT NULL DEFAULT 0
        );
        CREATE UNIQUE INDEX live_streams_chat ON live_streams(chat_id) WHERE chat_id IS NOT NULL;
        CREATE INDEX live_streams_user ON live_streams(user_id);
        CREATE INDEX live_streams_stop ON live_streams(responder) WHERE stop_requested = 1;
        -- The sweep looks for unfinished answers every 2 s: without this it would read every message.
        CREATE INDEX messages_streaming ON messages(chat_id) WHERE status = 'streaming';
        -- Opening a stream in one round trip: the user's advisory lock ("LS" and the id), then the
        -- count and the chat check, each statement seeing what others committed before it.
        -- Freshness is by the database's clock, never a responder's: hosts' clocks may disagree.
        CREATE FUNCTION live_stream_open(p_id TEXT, p_responder TEXT, p_user BIGINT, p_chat BIGINT, p_limit BIGINT,
                                         p_stale_seconds BIGINT) RETURNS TEXT LANGUAGE plpgsql AS $$
        DECLARE
            p_fresh BIGINT := CAST(EXTRACT(EPOCH FROM clock_timestamp()) AS BIGINT) - p_stale_seconds;
        BEGIN
            PERFORM pg_advisory_xact_lock((19539::bigint << 48) | (p_user & 281474976710655));
            IF (SELECT COUNT(*) FROM live_streams l JOIN stream_responders r ON r.id = l.responder
                WHERE l.user_id = p_user AND r.heartbeat_at >= p_fresh) >= p_limit THEN
                RETURN 'too_many';
            END IF;
            IF p_chat IS NOT NULL THEN
                IF EXISTS (SELECT 1 FROM live_streams l JOIN stream_responders r ON r.id = l.responder
                           WHERE l.chat_id = p_chat AND r.heartbeat_at >= p_fresh) THEN
                    RETURN 'chat_busy';
                END IF;
                DELETE FROM live_streams WHERE chat_id = p_chat;  -- a dead responder's row, not yet swept
            END IF;
            INSERT INTO live_streams (id, responder, user_id, chat_id) VALUES (p_id, p_responder, p_user, p_chat);
            RETURN 'opened';
        END $$;
        """,
        10: """
        CREATE TABLE groups (
            id BIGINT GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY,
            name TEXT NOT NULL UNIQUE,
            source TEXT NOT NULL CHECK (source IN ('local', 'oidc')),
            daily_token_quota BIGINT CHECK (daily_token_quota IS NULL OR daily_token_quota >= 0),
            created_at BIGINT NOT NULL
        );
        CREATE TABLE group_members (
            group_id BIGINT NOT NULL REFERENCES groups(id) ON DELETE CASCADE,
            user_id BIGINT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
            source TEXT NOT NULL CHECK (source IN ('local', 'oidc')),
            created_at BIGINT NOT NULL,
            PRIMARY KEY (group_id, user_id)
        );
        CREATE INDEX group_members_user ON group_members(user_id);
        """,
        11: """
        CREATE TABLE oidc_states (
            id BIGINT GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY,
            state_hash TEXT NOT NULL UNIQUE,
            browser_hash TEXT NOT NULL,
            nonce TEXT NOT NULL,
            code_verifier TEXT NOT NULL,
            issuer TEXT NOT NULL,
            created_at BIGINT NOT NULL,
            expires_at BIGINT NOT NULL
        );
        CREATE INDEX oidc_states_expires ON oidc_states(expires_at);
        CREATE TABLE user_identities (
            id BIGINT GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY,
            user_id BIGINT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
            issuer TEXT NOT NULL,
            subject TEXT NOT NULL,
            created_at BIGINT NOT NULL,
            last_login_at BIGINT NOT NULL,
            UNIQUE (issuer, subject)
        );
        CREATE INDEX user_identities_user ON user_identities(user_id);
        """,
        12: """
        ALTER TABLE connections ADD COLUMN allowed_groups TEXT NOT NULL DEFAULT '[]';
        CREATE TABLE usage_daily (
            day TEXT NOT NULL,
            user_id BIGINT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
            model TEXT NOT NULL,
            requests BIGINT NOT NULL DEFAULT 0,
            prompt_tokens BIGINT NOT NULL DEFAULT 0,
            completion_tokens BIGINT NOT NULL DEFAULT 0,
            estimated_requests BIGINT NOT NULL DEFAULT 0,
            PRIMARY KEY (day, user_id, model)
        );
        CREATE INDEX usage_daily_user ON usage_daily(user_id, day);
        CREATE TABLE quota_days (
            user_id BIGINT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
            day TEXT NOT NULL,
            used BIGINT NOT NULL DEFAULT 0 CHECK (used >= 0),
            reserved BIGINT NOT NULL DEFAULT 0 CHECK (reserved >= 0),
            PRIMARY KEY (user_id, day)
        );
        CREATE TABLE quota_reservations (
            id BIGINT GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY,
            user_id BIGINT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
            day TEXT NOT NULL,
            tokens BIGINT NOT NULL CHECK (tokens >= 0),
            expires_at BIGINT NOT NULL
        );
        CREATE INDEX quota_reservations_user ON quota_reservations(user_id, expires_at);
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

import Crypto
import Dispatch
import Foundation
import Service
import Storage
import Support

enum Commands {
    static let version = "0.1.0"

    static let usage = """
        usage: cryotensor <command> [options] [--env-file PATH]

        --env-file PATH reads settings from a file in systemd's EnvironmentFile syntax (KEY=VALUE lines,
        comments on their own lines); its values win over the environment. Every command takes it.

        commands:
          serve [--listen unix:PATH|HOST:PORT] [--threads N] [--socket-mode 0660] [--socket-group NAME] [--grace-seconds 30]
                [--allowed-peers ADDR[,ADDR...]] [--backlog 1024] [--max-streams 2048] [--pool 16] [--single-responder]
                                     serve FastCGI; without --listen, serves the socket on fd 0 (spawn-fcgi);
                                     on TCP, only --allowed-peers may connect (default 127.0.0.1,::1);
                                     streams and downloads run on their own elastic threads, at most --max-streams;
                                     on PostgreSQL without CONFIG_ENCRYPTION_KEY, only with --single-responder
          check-config               validate the environment and print every setting (secrets as set/unset)
          migrate                    apply pending database migrations
          user add EMAIL [--admin]   create a user; the password is read as one line on stdin, or generated and printed
          token create --user EMAIL [--name NAME]
                                     create an API token and print it alone on stdout
          reencrypt                  rewrite stored secrets under the current key, and chats to the current mode and key
          cleanup                    retention: drop audit events past AUDIT_RETENTION_DAYS (checkpoint kept), delete chats
                                     past CHAT_RETENTION_DAYS with every copy, pipe artifacts and session-log archives past their age
          audit verify               check the audit chain: exit 0 when whole, 1 naming the first event that fails
          audit export [--since UNIX]
                                     write audit events as JSON lines to stdout (for a SIEM)
          copy-db --to postgresql://... [--force] [--batch-rows 500]
                                     copy the SQLite database into an empty PostgreSQL database (ciphertext as is,
                                     batches with progress on stderr, row counts verified per table); run again
                                     after an interruption to resume; --force empties a target that holds data
          check-url URL              the download guard's verdict for URL under the current settings (no connection)
          version                    print the version
        """

    static func fail(_ message: String, code: Int32 = 1) -> Int32 {
        FileHandle.standardError.write(Data(("cryotensor: " + message + "\n").utf8))
        return code
    }

    static func run(_ args: [String], environment inherited: [String: String]) -> Int32 {
        guard let command = args.first else { print(usage); return 2 }
        var rest = Array(args.dropFirst())
        var environment = inherited
        // Every subcommand takes --env-file PATH (systemd's EnvironmentFile syntax): operator
        // commands read the service's own settings, and no key ever goes on a command line.
        if let at = rest.firstIndex(of: "--env-file") {
            guard at + 1 < rest.count else { return fail("--env-file needs a path", code: 2) }
            let path = rest[at + 1]
            rest.removeSubrange(at...(at + 1))
            do {
                environment.merge(try readEnvironmentFile(path)) { _, file in file }
            } catch {
                return fail(error.message, code: 2)
            }
        }
        switch command {
        case "serve": return serve(rest, environment: environment)
        case "check-config": return checkConfig(environment: environment)
        case "migrate": return migrate(environment: environment)
        case "user": return user(rest, environment: environment)
        case "token": return token(rest, environment: environment)
        case "reencrypt": return reencrypt(environment: environment)
        case "check-url": return checkURL(rest, environment: environment)
        case "cleanup": return cleanup(environment: environment)
        case "audit": return audit(rest, environment: environment)
        case "copy-db": return copyDB(rest, environment: environment)
        case "version", "--version": print(version); return 0
        case "help", "--help", "-h": print(usage); return 0
        default: return fail("unknown command '\(command)'\n\(usage)", code: 2)
        }
    }

    /// Parses `--name value` options; flags listed in `flags` take no value.
    static func options(_ args: [String], flags: Set<String> = []) -> (values: [String: String], positional: [String])? {
        var values: [String: String] = [:]
        var positional: [String] = []
        var i = 0
        while i < args.count {
            let arg = args[i]
            if arg.hasPrefix("--") {
                if flags.contains(arg) { values[arg] = "true"; i += 1; continue }
                guard i + 1 < args.count else { return nil }
                values[arg] = args[i + 1]
                i += 2
            } else {
                positional.append(arg)
                i += 1
            }
        }
        return (values, positional)
    }

    static func loadConfig(_ environment: [String: String]) -> Config? {
        do {
            return try Config.load(environment: environment)
        } catch {
            _ = fail("configuration error: \(error.description)", code: 2)
            return nil
        }
    }

    static func openDatabase(_ config: Config) -> Database? {
        do {
            let onSQLite = config.databaseURL == nil
            if onSQLite {
                let directory = (config.databasePath as NSString).deletingLastPathComponent
                if !directory.isEmpty { try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true) }
            }
            let db = try Database(config.database)
            try Migrations.apply(db) { version, name in
                Log.event(.info, "migration", ["version": JSON(version), "name": .string(name)])
            }
            // The database holds password and token hashes: keep it private to its owner.
            if onSQLite { chmod(config.databasePath, 0o600) }
            return db
        } catch {
            _ = fail("database \(config.database): \(error)")
            return nil
        }
    }

    /// The file's settings; values in it win over the inherited environment.
    struct EnvFileError: Error { let message: String }

    static func readEnvironmentFile(_ path: String) throws(EnvFileError) -> [String: String] {
        guard let data = FileManager.default.contents(atPath: path) else {
            throw EnvFileError(message: "--env-file \(path): cannot read it (\(String(cString: strerror(errno))))")
        }
        guard let text = String(data: data, encoding: .utf8) else { throw EnvFileError(message: "--env-file \(path): not UTF-8 text") }
        var st = stat()
        if stat(path, &st) == 0, st.st_mode & 0o004 != 0 {
            let warning = "cryotensor: warning: \(path) is readable by every user; it holds secrets (chmod 0640)\n"
            FileHandle.standardError.write(Data(warning.utf8))
        }
        do {
            return try EnvironmentFile.parse(text)
        } catch {
            throw EnvFileError(message: "--env-file \(path): \(error.description)")
        }
    }

    /// Prints every setting (secrets masked), then every bad variable, not only the first.
    static func checkConfig(environment: [String: String]) -> Int32 {
        for (name, shown) in Config.describe(environment: environment) { print("\(name)=\(shown)") }
        let problems = Config.problems(environment: environment)
        guard problems.isEmpty else {
            for problem in problems {
                FileHandle.standardError.write(Data("cryotensor: configuration error: \(problem.description)\n".utf8))
            }
            return 2
        }
        print("configuration ok")
        return 0
    }

    static func migrate(environment: [String: String]) -> Int32 {
        guard let config = loadConfig(environment), let db = openDatabase(config) else { return 1 }
        print("database at schema version \((try? Migrations.currentVersion(db)) ?? 0)")
        return 0
    }

    static func user(_ args: [String], environment: [String: String]) -> Int32 {
        guard args.first == "add", let parsed = options(Array(args.dropFirst()), flags: ["--admin"]),
            let email = parsed.positional.first, parsed.positional.count == 1
        else {
            return fail("usage: cryotensor user add EMAIL [--admin]", code: 2)
        }
        guard let config = loadConfig(environment), let db = openDatabase(config) else { return 1 }
        var password: String
        if isatty(0) == 1 {
            // A person at a terminal: asked twice, without echo; empty means "generate one".
            guard let first = Terminal.readSecret("Password for \(email) (empty: generate one): ") else {
                return fail(
                    "no "
                        + "password read", code: 2)
            }
            if !first.isEmpty {
                guard let second = Terminal.readSecret("Again: "), second == first else { return fail("the passwords differ", code: 2) }
            }
            password = first
        } else {
            password = readLine(strippingNewline: true) ?? ""
        }
        let generated = password.isEmpty
        if generated { password = Passwords.generate() }
        guard password.count >= 12 else { return fail("password must be at least 12 characters", code: 2) }
        // The same rule as `POST /admin/users`.
        guard EmailAddress.isValid(email) else { return fail("not an email address: \(email)", code: 2) }
        do {
            guard try UserRepository(db).find(email: email) == nil else { return fail("a user with email \(email) exists") }
            let scope = try operatorScope(config, db: db, environment: environment)
            let (user, _) = try Accounts.create(
                scope, email: email, password: password,
                role: parsed.values["--admin"] != nil ? .admin : .user, generated: generated)
            if generated { print(password) }
            FileHandle.standardError.write(Data("created \(user.role.rawValue) \(user.email) (id \(user.id))\n".utf8))
            return 0
        } catch {
            return fail("\(error)")
        }
    }

    static func token(_ args: [String], environment: [String: String]) -> Int32 {
        guard args.first == "create", let parsed = options(Array(args.dropFirst())), let email = parsed.values["--user"] else {
            return fail("usage: cryotensor token create --user EMAIL [--name NAME]", code: 2)
        }
        guard let config = loadConfig(environment), let db = openDatabase(config) else { return 1 }
        do {
            guard let user = try UserRepository(db).find(email: email) else { return fail("no user with email \(email)") }
            let scope = try operatorScope(config, db: db, environment: environment)
            let (_, token) = try APITokens.issue(scope, user: user, name: parsed.values["--name"] ?? "cli token")
            print(token)
            return 0
        } catch {
            return fail("\(error)")
        }
    }

    static func checkURL(_ args: [String], environment: [String: String]) -> Int32 {
        guard args.count == 1, let raw = args.first else { return fail("usage: cryotensor check-url URL", code: 2) }
        guard var config = loadConfig(environment) else { return 2 }
        // Admin changes to the guard's settings (stored in the database) apply here too.
        if config.databaseURL != nil || FileManager.default.fileExists(atPath: config.databasePath),
            let db = try? Database(config.database),
            let overrides = try? RuntimeSettingsRepository(db).all(), !overrides.isEmpty,
            let merged = try? Config.load(environment: environment.merging(overrides) { _, new in new })
        {
            config = merged
        }
        let verdict = Downloads.check(raw, config: config)
        print(verdict.text)
        return verdict.allowed ? 0 : 1
    }

    static func cleanup(environment: [String: String]) -> Int32 {
        guard let config = loadConfig(environment) else { return 2 }
        guard let db = openDatabase(config) else { return 1 }
        do {
            try Retention.run(try operatorScope(config, db: db, environment: environment)) { print("cleanup: \($0)") }
            return 0
        } catch {
            return fail("\(error)")
        }
    }

    static func reencrypt(environment: [String: String]) -> Int32 {
        guard let config = loadConfig(environment) else { return 2 }
        guard let db = openDatabase(config) else { return 1 }
        do {
            let report = try Reencryption.run(db: db, config: config) { line in
                FileHandle.standardError.write(Data("reencrypt: \(line)\n".utf8))
            }
            print("rewritten \(report.rewritten), already current \(report.alreadyCurrent), failed \(report.failed.count)")
            try operatorScope(config, db: db, environment: environment).audit(
                .secretsReencrypt, target: AuditTarget("database"),
                outcome: report.failed.isEmpty ? .ok : .failed,
                details: [
                    "key_id": JSON(config.encryptionKey.map { Keyring.keyID($0.reveal()) }), "rewritten": JSON(report.rewritten),
                    "already_current": JSON(report.alreadyCurrent), "failed": JSON(report.failed.count)
                ])
            for failure in report.failed {
                FileHandle.standardError.write(Data("reencrypt: cannot decrypt \(failure); left unchanged\n".utf8))
            }
            return report.failed.isEmpty ? 0 : 1
        } catch {
            return fail("\(error)")
        }
    }
}

/// Reading a secret at a terminal without echoing it.
enum Terminal {
    static func readSecret(_ prompt: String) -> String? {
        FileHandle.standardError.write(Data(prompt.utf8))
        var saved = termios()
        let hasTerminal = tcgetattr(0, &saved) == 0
        if hasTerminal {
            var quiet = saved
            quiet.c_lflag &= ~tcflag_t(ECHO)
            tcsetattr(0, TCSAFLUSH, &quiet)
        }
        defer {
            if hasTerminal { tcsetattr(0, TCSAFLUSH, &saved) }
            FileHandle.standardError.write(Data("\n".utf8))
        }
        return readLine(strippingNewline: true)
    }
}

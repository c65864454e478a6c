import App
import Crypto
import Dispatch
import FastCGI
import Foundation
import Service
import Storage
import Support

/// `serve`: the only command that uses the HTTP layer.
extension Commands {
    static func serve(_ args: [String], environment: [String: String]) -> Int32 {
        guard let parsed = options(args, flags: ["--single-responder"]) else { return fail("missing value for the last option", code: 2) }
        let address: ListenAddress
        if let listen = parsed.values["--listen"] {
            guard let a = ListenAddress.parse(listen) else { return fail("--listen must be unix:PATH or HOST:PORT", code: 2) }
            address = a
        } else if ListenAddress.stdinIsSocket() {
            address = .inherited
        } else {
            return fail("no --listen given and fd 0 is not a socket (spawn-fcgi passes one)", code: 2)
        }
        guard let threads = Int(parsed.values["--threads"] ?? "8"), (1...256).contains(threads) else {
            return fail("--threads must be 1...256", code: 2)
        }
        guard let mode = mode_t(parsed.values["--socket-mode"] ?? "0660", radix: 8), mode <= 0o777 else {
            return fail("--socket-mode must be octal, such as 0660", code: 2)
        }
        guard let grace = Double(parsed.values["--grace-seconds"] ?? "30"), grace >= 0 else {
            return fail("--grace-seconds must be a number", code: 2)
        }
        guard let backlog = Int32(parsed.values["--backlog"] ?? "1024"), (16...65535).contains(backlog) else {
            return fail("--backlog must be 16...65535", code: 2)
        }
        guard let maxStreams = Int(parsed.values["--max-streams"] ?? "2048"), (1...100_000).contains(maxStreams) else {
            return fail("--max-streams must be 1...100000", code: 2)
        }
        guard let poolSize = Int(parsed.values["--pool"] ?? "16"), (1...1024).contains(poolSize) else {
            return fail("--pool must be 1...1024", code: 2)
        }
        // A FastCGI peer sets REMOTE_ADDR and HTTPS, so TCP accepts only these: --allowed-peers,
        // else an FCGI_WEB_SERVER_ADDRS the operator set, else loopback.
        var peers: PeerAllowList? = .loopback
        var setsPeerEnvironment = true
        if let text = parsed.values["--allowed-peers"] {
            do {
                peers = try PeerAllowList(parsing: text)
            } catch {
                return fail("--allowed-peers: \(error.message)", code: 2)
            }
        } else if let own = environment[PeerAllowList.environmentVariable] {
            peers = PeerAllowList(environmentValue: own)
            setsPeerEnvironment = false
        }
        guard let config = loadConfig(environment) else { return 2 }
        // Without the key each process keeps secrets in its own memory: a second responder would
        // not see a key saved on the first.
        if config.databaseURL != nil, config.encryptionKey == nil, parsed.values["--single-responder"] == nil {
            return fail(
                "DATABASE_URL is PostgreSQL but CONFIG_ENCRYPTION_KEY is unset: secrets would live in one process's memory. "
                    + "Set CONFIG_ENCRYPTION_KEY on every responder, or pass --single-responder if this is the only one.", code: 2)
        }
        guard let db = openDatabase(config) else { return 1 }
        do {
            try Reencryption.enforceIndexMode(db: db, config: config)
        } catch {
            return fail("cannot remove the plaintext search index: \(error)")
        }

        let cacheMACKey: [UInt8]
        do {
            cacheMACKey = try ServiceKeyRepository(db).key("redis-cache-mac") { Crypto.Random.bytes(32) }
        } catch {
            return fail("cannot read the cache key: \(error)")
        }
        let shared = SharedState(version: version, config: config, environment: environment, cacheMACKey: cacheMACKey)
        // Long requests borrow SQLite and Redis connections from this pool only while they use them.
        let pool: ServicesPool
        do {
            pool = try ServicesPool(size: poolSize, config: config, shared: shared)
        } catch {
            return fail("cannot open the database for the stream pool: \(error)")
        }
        let longApp = Application(pool: pool)
        // Answers a crash cut off keep what was stored of them, marked as such. On PostgreSQL only
        // those no live responder holds (StreamCluster).
        let interruptedAnswers = try? (config.databaseURL == nil ? ChatRepository(db).markInterrupted() : StreamCluster.sweep(db))
        if let interrupted = interruptedAnswers, interrupted > 0 {
            Log.event(.warn, "answers_interrupted", ["count": JSON(interrupted)])
        }
        let lanes = Lanes(
            isLong: Application.isLong, long: { request, writer in longApp.handle(request, writer) },
            busy: Application.busy, maxLong: maxStreams)
        FileLimits.raise(for: maxStreams)
        // A client gone mid-stream must be a failed write, never a signal that ends the process.
        signal(SIGPIPE, SIG_IGN)
        // The socket opens only now, right before the signal sources: libfcgi (FCGX_Init) takes SIGTERM
        // for itself, so a SIGTERM between the two would be swallowed and the process never stop.
        let server: Server
        do {
            var options = Server.Options(
                address: address, threads: threads, maxBodyBytes: config.maxBodyBytes,
                socketMode: mode, socketGroup: parsed.values["--socket-group"])
            options.allowedPeers = peers
            options.setsPeerEnvironment = setsPeerEnvironment
            options.backlog = backlog
            server = try Server(options: options)
        } catch {
            return fail(error.description)
        }
        let signals = ShutdownSignals(server: server, graceSeconds: grace)
        signals.install()
        // Threads are started only after the signal sources: libdispatch blocks SIGTERM in the
        // threads that exist then and in their children; a thread started before would take the
        // signal and, with SIGTERM ignored, drop it.
        shared.partials.startFlusher { try? Services(config: config, shared: shared) }
        shared.streams.cluster?.start(registry: shared.streams) { try? Services(config: config, shared: shared) }
        var serving: [String: JSON] = [
            "listen": .string(parsed.values["--listen"] ?? "fd 0"), "threads": JSON(threads),
            "max_streams": JSON(maxStreams), "pool": JSON(poolSize), "backlog": JSON(Int(backlog)),
            "version": .string(version), "pid": JSON(Int(getpid()))
        ]
        if address.isTCP { serving["allowed_peers"] = .string(peers?.environmentValue ?? "any") }
        Log.event(.info, "serving", serving)
        server.run(lanes: lanes) {
            do {
                let services = try Services(config: config, shared: shared)
                let app = Application(services: services)
                return { request, writer in app.handle(request, writer) }
            } catch {
                Log.event(.error, "worker_start_failed", ["error": .string(String(describing: error))])
                let unavailable = ServiceError(.unavailable, "The service cannot open its database.")
                return { _, writer in
                    writer.send(
                        status: unavailable.status, headers: [("Content-Type", "application/json")],
                        body: Array(unavailable.body.serialized().utf8))
                }
            }
        }
        // The accepting threads left their loops; streams on the elastic lane may still be running:
        // they get the same grace (the signal handler exits 1 if they outlast it).
        _ = server.drain(seconds: grace)
        Log.event(.info, "stopped")
        return 0
    }
}

/// Each stream in flight holds a FastCGI connection and an upstream socket: the soft limit of open
/// files (often 1024) would refuse connections long before `--max-streams`. Raised to the hard limit.
enum FileLimits {
    static func raise(for streams: Int) {
        var limit = rlimit()
        guard getrlimit(Int32(RLIMIT_NOFILE.rawValue), &limit) == 0 else { return }
        let wanted = rlim_t(max(4096, streams * 3 + 256))
        guard limit.rlim_cur < wanted else { return }
        limit.rlim_cur = min(wanted, limit.rlim_max)
        if setrlimit(Int32(RLIMIT_NOFILE.rawValue), &limit) != 0 || limit.rlim_cur < wanted {
            Log.event(.warn, "open_files_limit", ["soft": JSON(Int(limit.rlim_cur)), "wanted": JSON(Int(wanted))])
        }
    }
}

/// SIGTERM and SIGINT: libfcgi's own handling does not unblock accept, so both are ignored at
/// the process level and taken through dispatch sources instead; the handler stops accepting and
/// bounds the wait for in-flight requests.
final class ShutdownSignals: Sendable {
    let server: Server
    let graceSeconds: Double
    let queue = DispatchQueue(label: "signals")
    nonisolated(unsafe) var sources: [DispatchSourceSignal] = []

    init(server: Server, graceSeconds: Double) {
        self.server = server
        self.graceSeconds = graceSeconds
    }

    func install() {
        for sig in [SIGTERM, SIGINT] {
            signal(sig, SIG_IGN)
            let source = DispatchSource.makeSignalSource(signal: sig, queue: queue)
            source.setEventHandler { [self] in
                Log.event(.info, "shutdown", ["signal": JSON(Int(sig)), "in_flight": JSON(server.activeRequests)])
                server.stop()
                let server = self.server
                let grace = graceSeconds
                DispatchQueue.global().async {
                    if !server.drain(seconds: grace) {
                        Log.event(.warn, "shutdown_forced", ["in_flight": JSON(server.activeRequests)])
                        exit(1)
                    }
                }
            }
            source.resume()
            sources.append(source)
        }
        // libdispatch installs its own handler asynchronously, on its manager thread: until then a
        // SIGTERM meets SIG_IGN and is lost (seen: a responder that never stopped). Wait for it,
        // at most a second, before any thread that could serve is started.
        let deadline = Date().addingTimeInterval(1)
        while Date() < deadline, [SIGTERM, SIGINT].contains(where: Self.isIgnored) { usleep(1000) }
    }

    static func isIgnored(_ sig: Int32) -> Bool {
        var action = sigaction()
        sigaction(sig, nil, &action)
        guard let handler = action.__sigaction_handler.sa_handler else { return false }  // SIG_DFL
        return unsafeBitCast(handler, to: Int.self) == 1  // SIG_IGN
    }
}

import Foundation

/// A real redis-server on a Unix socket in its own temporary directory, for one test. Started and
/// stopped the way scripts/stack does it (no TCP port, nothing saved to disk).
final class RedisServer {
    let directory: URL
    var socket: String { directory.appendingPathComponent("redis.sock").path }
    private var pid: pid_t = 0

    init() throws {
        // As `serve` does: a write to a server that just stopped must fail with EPIPE, not kill
        // the test process.
        signal(SIGPIPE, SIG_IGN)
        directory = FileManager.default.temporaryDirectory.appendingPathComponent("cachetests-\(UUID().uuidString.prefix(8))")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        try start()
    }

    deinit {
        stop()
        try? FileManager.default.removeItem(at: directory)
    }

    func start() throws {
        let args = [
            "/usr/bin/redis-server", "--port", "0", "--unixsocket", socket, "--unixsocketperm", "700",
            "--dir", directory.path, "--save", "", "--appendonly", "no", "--daemonize", "no",
            "--logfile", directory.appendingPathComponent("log").path
        ]
        pid = try Self.spawn(args)
        // Ready once the socket accepts a connection.
        for _ in 0..<250 {
            if Self.canConnect(socket) { return }
            Thread.sleep(forTimeInterval: 0.02)
        }
        stop()
        throw CocoaError(.fileReadUnknown)
    }

    /// SIGTERM, then reaped: nothing is left running when a test ends.
    func stop() {
        guard pid > 0 else { return }
        kill(pid, SIGTERM)
        var status: Int32 = 0
        _ = waitpid(pid, &status, 0)
        pid = 0
        try? FileManager.default.removeItem(atPath: socket)
    }

    /// posix_spawn with no signal blocked (test threads may block some; a blocked SIGTERM would
    /// leave the server running). Foundation's Process left children unreaped under Swift Testing.
    static func spawn(_ argv: [String]) throws -> pid_t {
        var attributes = posix_spawnattr_t()
        posix_spawnattr_init(&attributes)
        defer { posix_spawnattr_destroy(&attributes) }
        var none = sigset_t()
        sigemptyset(&none)
        var defaults = sigset_t()
        sigemptyset(&defaults)
        for signal in [SIGTERM, SIGINT, SIGPIPE, SIGHUP] { sigaddset(&defaults, signal) }
        posix_spawnattr_setsigmask(&attributes, &none)
        posix_spawnattr_setsigdefault(&attributes, &defaults)
        posix_spawnattr_setflags(&attributes, Int16(POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF))
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        for fd in Int32(0)...2 { posix_spawn_file_actions_addopen(&actions, fd, "/dev/null", fd == 0 ? O_RDONLY : O_WRONLY, 0) }
        var cArgs = argv.map { strdup($0) } + [nil]
        defer { cArgs.forEach { free($0) } }
        var child: pid_t = 0
        let rc = posix_spawn(&child, argv[0], &actions, &attributes, &cArgs, environ)
        guard rc == 0 else { throw CocoaError(.executableLoad) }
        return child
    }

    static func canConnect(_ path: String) -> Bool {
        let fd = Foundation.socket(AF_UNIX, Int32(SOCK_STREAM.rawValue), 0)
        guard fd >= 0 else { return false }
        defer { close(fd) }
        var address = sockaddr_un()
        address.sun_family = sa_family_t(AF_UNIX)
        let bytes = Array(path.utf8)
        guard bytes.count < MemoryLayout.size(ofValue: address.sun_path) else { return false }
        withUnsafeMutableBytes(of: &address.sun_path) { raw in
            for (i, b) in bytes.enumerated() { raw[i] = b }
        }
        return withUnsafePointer(to: &address) { pointer in
            pointer.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                connect(fd, $0, socklen_t(MemoryLayout<sockaddr_un>.size)) == 0
            }
        }
    }
}

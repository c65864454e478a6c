import Foundation
import Synchronization

/// A child process started with posix_spawn and reaped with waitpid. Foundation's Process
/// proved unreliable here inside Swift Testing (children left unreaped), so the harness does
/// the few system calls itself.
final class Child: @unchecked Sendable {
    let pid: pid_t
    let stdoutFD: Int32
    let stderrFD: Int32

    /// `stdin`: text written then closed; nil gives /dev/null. `capture`: pipe stdout and stderr.
    /// Tests spawn from several threads: pipe creation, close-on-exec and spawn happen under one
    /// lock, so no child can inherit another child's pipe ends (which would hold them open).
    static let spawnLock = Mutex(())

    init(_ path: String, _ args: [String], environment: [String: String]? = nil, stdin: String? = nil, capture: Bool = true) throws {
        let (pid, out, err, stdinFD) = try Self.spawnLock.withLock { _ in
            try Self.spawn(path, args, environment: environment, withStdin: stdin != nil, capture: capture)
        }
        self.pid = pid
        stdoutFD = out
        stderrFD = err
        if let stdin {
            let bytes = Array(stdin.utf8)
            _ = bytes.withUnsafeBytes { write(stdinFD, $0.baseAddress, $0.count) }
            close(stdinFD)
        }
    }

    static func spawn(_ path: String, _ args: [String], environment: [String: String]?, withStdin: Bool, capture: Bool) throws -> (
        pid_t, Int32, Int32, Int32
    ) {
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        var inPipe: [Int32] = [-1, -1], outPipe: [Int32] = [-1, -1], errPipe: [Int32] = [-1, -1]
        if withStdin {
            guard pipe(&inPipe) == 0 else { throw StackError("pipe failed") }
            posix_spawn_file_actions_adddup2(&actions, inPipe[0], 0)
        } else {
            posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0)
        }
        if capture {
            guard pipe(&outPipe) == 0, pipe(&errPipe) == 0 else { throw StackError("pipe failed") }
            posix_spawn_file_actions_adddup2(&actions, outPipe[1], 1)
            posix_spawn_file_actions_adddup2(&actions, errPipe[1], 2)
        } else {
            posix_spawn_file_actions_addopen(&actions, 1, "/dev/null", O_WRONLY, 0)
            posix_spawn_file_actions_addopen(&actions, 2, "/dev/null", O_WRONLY, 0)
        }
        for fd in inPipe + outPipe + errPipe where fd >= 0 { _ = fcntl(fd, F_SETFD, FD_CLOEXEC) }

        let env = (environment ?? ProcessInfo.processInfo.environment).map { "\($0.key)=\($0.value)" }
        let argv = [path] + args
        var cArgs = argv.map { strdup($0) } + [nil]
        var cEnv = env.map { strdup($0) } + [nil]
        defer { cArgs.forEach { free($0) }; cEnv.forEach { free($0) } }
        // Test threads may block signals; a child must start with none blocked and default
        // handlers, or SIGTERM would not stop it.
        var attributes = posix_spawnattr_t()
        posix_spawnattr_init(&attributes)
        defer { posix_spawnattr_destroy(&attributes) }
        var noSignals = sigset_t()
        sigemptyset(&noSignals)
        var defaults = sigset_t()
        sigemptyset(&defaults)
        for sig in [SIGTERM, SIGINT, SIGPIPE, SIGHUP, SIGCHLD] { sigaddset(&defaults, sig) }
        posix_spawnattr_setsigmask(&attributes, &noSignals)
        posix_spawnattr_setsigdefault(&attributes, &defaults)
        posix_spawnattr_setflags(&attributes, Int16(POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF))
        var child: pid_t = 0
        let rc = posix_spawn(&child, path, &actions, &attributes, &cArgs, &cEnv)
        for fd in [inPipe[0], outPipe[1], errPipe[1]] where fd >= 0 { close(fd) }
        guard rc == 0 else {
            for fd in [inPipe[1], outPipe[0], errPipe[0]] where fd >= 0 { close(fd) }
            throw StackError("cannot start \(path): \(String(cString: strerror(rc)))")
        }
        return (child, outPipe[0], errPipe[0], inPipe[1])
    }

    /// Reads stdout and stderr to their ends (both at once, so neither pipe can fill and block).
    func readAll() -> (stdout: Data, stderr: Data) {
        var out = Data(), err = Data()
        var open: [Int32] = [stdoutFD, stderrFD].filter { $0 >= 0 }
        var buffer = [UInt8](repeating: 0, count: 65536)
        while !open.isEmpty {
            var fds = open.map { pollfd(fd: $0, events: Int16(POLLIN), revents: 0) }
            guard poll(&fds, nfds_t(fds.count), -1) >= 0 else { if errno == EINTR { continue }; break }
            for p in fds where p.revents != 0 {
                let n = read(p.fd, &buffer, buffer.count)
                if n > 0 {
                    if p.fd == stdoutFD { out.append(contentsOf: buffer[0..<n]) } else { err.append(contentsOf: buffer[0..<n]) }
                } else {
                    close(p.fd)
                    open.removeAll { $0 == p.fd }
                }
            }
        }
        return (out, err)
    }

    /// Reads stdout until it holds `text` or `seconds` pass. What it read is consumed.
    func waitForOutput(_ text: String, within seconds: Double) -> Bool {
        let deadline = Date().addingTimeInterval(seconds)
        var seen = Data()
        var buffer = [UInt8](repeating: 0, count: 65536)
        while Date() < deadline, stdoutFD >= 0 {
            var fd = pollfd(fd: stdoutFD, events: Int16(POLLIN), revents: 0)
            guard poll(&fd, 1, 100) > 0 else { continue }
            let n = read(stdoutFD, &buffer, buffer.count)
            guard n > 0 else { return false }
            seen.append(contentsOf: buffer[0..<n])
            if String(decoding: seen, as: UTF8.self).contains(text) { return true }
        }
        return false
    }

    /// Waits for exit: the exit code, or 128 + signal number.
    @discardableResult
    func wait() -> Int32 {
        var status: Int32 = 0
        while waitpid(pid, &status, 0) < 0 && errno == EINTR {}
        if status & 0x7F == 0 { return (status >> 8) & 0xFF }
        return 128 + (status & 0x7F)
    }

    func signal(_ sig: Int32) { kill(pid, sig) }
}

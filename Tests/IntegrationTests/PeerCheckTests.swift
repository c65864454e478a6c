import Foundation
import Testing

/// The responder alone on a TCP port (or on a socket spawn-fcgi hands it), without nginx, so a test
/// can be the FastCGI peer itself.
final class TCPResponder: @unchecked Sendable {
    let child: Child
    let dir: URL
    let host: String
    let port: Int

    /// `viaSpawnFCGI`: spawn-fcgi binds HOST:PORT and execs the responder with it on fd 0.
    init(host: String = "127.0.0.1", arguments: [String] = [], env: [String: String] = [:], viaSpawnFCGI: Bool = false) throws {
        dir = URL(fileURLWithPath: NSTemporaryDirectory()).appendingPathComponent("ct-peer-\(UUID().uuidString.prefix(8))")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        self.host = host
        port = freePort()
        var environment = ProcessInfo.processInfo.environment
        for key in environment.keys
        where key.hasPrefix("CRYOTENSOR_") || key == "REDIS_URL" || key.contains("ENCRYPTION")
            || key == "FCGI_WEB_SERVER_ADDRS"
        {
            environment[key] = nil
        }
        environment["CRYOTENSOR_DB"] = dir.appendingPathComponent("cryotensor.db").path
        for (k, v) in env { environment[k] = v }
        if viaSpawnFCGI {
            let spawn = ["-a", host, "-p", String(port), "-n", "--", responderBinary, "serve", "--threads", "2"]
            child = try Child("/usr/bin/spawn-fcgi", spawn + arguments, environment: environment)
        } else {
            let serve = ["serve", "--listen", "\(host):\(port)", "--threads", "2"]
            child = try Child(responderBinary, serve + arguments, environment: environment)
        }
        // Ready when the port accepts a connection (a refused peer is accepted too, then closed).
        for _ in 0..<200 {
            if let fd = FastCGIProbe.connect(host: host, port: port) { close(fd); return }
            usleep(50_000)
        }
        child.signal(SIGKILL)
        child.wait()
        throw StackError("the responder did not listen on \(host):\(port): \(String(decoding: child.readAll().stderr, as: UTF8.self))")
    }

    /// Stops the responder and returns what it logged (its log lines go to stderr and stdout).
    func stop() -> String {
        child.signal(SIGTERM)
        let (out, err) = child.readAll()
        child.wait()
        try? FileManager.default.removeItem(at: dir)
        return String(decoding: out + err, as: UTF8.self)
    }
}

/// A FastCGI client written out record by record: BEGIN_REQUEST, PARAMS, empty STDIN, then read
/// whatever comes back until the responder closes the connection.
enum FastCGIProbe {
    static func connect(host: String, port: Int) -> Int32? {
        var v4 = sockaddr_in(), v6 = sockaddr_in6()
        let isV6 = host.contains(":")
        let fd = socket(isV6 ? AF_INET6 : AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard fd >= 0 else { return nil }
        let rc: Int32
        if isV6 {
            v6.sin6_family = sa_family_t(AF_INET6)
            v6.sin6_port = UInt16(port).bigEndian
            guard inet_pton(AF_INET6, host, &v6.sin6_addr) == 1 else { close(fd); return nil }
            rc = withUnsafePointer(to: &v6) {
                $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { Glibc.connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in6>.size)) }
            }
        } else {
            v4.sin_family = sa_family_t(AF_INET)
            v4.sin_port = UInt16(port).bigEndian
            guard inet_pton(AF_INET, host, &v4.sin_addr) == 1 else { close(fd); return nil }
            rc = withUnsafePointer(to: &v4) {
                $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { Glibc.connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
            }
        }
        guard rc == 0 else { close(fd); return nil }
        return fd
    }

    static func record(_ type: UInt8, _ content: [UInt8]) -> [UInt8] {
        [1, type, 0, 1, UInt8(content.count >> 8), UInt8(content.count & 0xFF), 0, 0] + content
    }

    static func pair(_ name: String, _ value: String) -> [UInt8] {
        [UInt8(name.utf8.count), UInt8(value.utf8.count)] + Array(name.utf8) + Array(value.utf8)
    }

    /// Sends GET /api/v1/health; returns every byte of the answer ("" when the peer was refused).
    static func health(host: String, port: Int) throws -> String {
        guard let fd = connect(host: host, port: port) else { throw StackError("cannot connect to \(host):\(port)") }
        defer { close(fd) }
        var timeout = timeval(tv_sec: 10, tv_usec: 0)
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
        let params =
            pair("REQUEST_METHOD", "GET") + pair("REQUEST_URI", "/api/v1/health") + pair("SCRIPT_NAME", "/api/v1/health")
            + pair("DOCUMENT_URI", "/api/v1/health") + pair("REMOTE_ADDR", "203.0.113.7") + pair("HTTPS", "on")
        let request = record(1, [0, 1, 0, 0, 0, 0, 0, 0]) + record(4, params) + record(4, []) + record(5, [])
        // A refused peer may be closed before or while we write: that is an answer of nothing.
        _ = request.withUnsafeBytes { send(fd, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }
        var answer = [UInt8]()
        var buffer = [UInt8](repeating: 0, count: 4096)
        while true {
            let n = recv(fd, &buffer, buffer.count, 0)
            if n > 0 { answer += buffer[0..<n]; continue }
            if n < 0 && errno == EAGAIN { throw StackError("no answer and no close within 10 s") }
            break  // closed (0) or reset (ECONNRESET)
        }
        return String(decoding: answer, as: UTF8.self)
    }
}

@Suite("FastCGI over TCP: only allowed peers get an answer", .serialized)
struct PeerCheckTests {
    @Test func loopbackPeerIsAnsweredByDefault() throws {
        let responder = try TCPResponder()
        let answer = try FastCGIProbe.health(host: "127.0.0.1", port: responder.port)
        let log = responder.stop()
        #expect(answer.contains("Status: 200"), "no answer from the responder: \(answer.debugDescription)\n\(log)")
        #expect(log.contains(#""allowed_peers":"127.0.0.1,::1""#), "the serving line should name the allowed peers:\n\(log)")
    }

    @Test func peerNotInAllowedPeersGetsNoAnswer() throws {
        let responder = try TCPResponder(arguments: ["--allowed-peers", "127.0.0.2"])
        let answer = try FastCGIProbe.health(host: "127.0.0.1", port: responder.port)
        _ = responder.stop()
        #expect(answer.isEmpty, "a peer outside --allowed-peers got an answer: \(answer.debugDescription)")
    }

    @Test func operatorsOwnVariableIsKeptWithoutTheOption() throws {
        let refused = try TCPResponder(env: ["FCGI_WEB_SERVER_ADDRS": "127.0.0.2"])
        #expect(try FastCGIProbe.health(host: "127.0.0.1", port: refused.port).isEmpty)
        _ = refused.stop()
        // The option wins over the variable.
        let allowed = try TCPResponder(arguments: ["--allowed-peers", "127.0.0.1"], env: ["FCGI_WEB_SERVER_ADDRS": "127.0.0.2"])
        #expect(try FastCGIProbe.health(host: "127.0.0.1", port: allowed.port).contains("Status: 200"))
        _ = allowed.stop()
    }

    static let canUseIPv6Loopback: Bool = {
        let fd = socket(AF_INET6, Int32(SOCK_STREAM.rawValue), 0)
        defer { if fd >= 0 { close(fd) } }
        var address = sockaddr_in6()
        address.sin6_family = sa_family_t(AF_INET6)
        address.sin6_addr = in6addr_loopback
        return fd >= 0
            && withUnsafePointer(to: &address) {
                $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, socklen_t(MemoryLayout<sockaddr_in6>.size)) }
            } == 0
    }()

    /// libfcgi checks only IPv4 peers; the responder checks IPv6 ones (spawn-fcgi -a ::1) itself.
    @Test(
        .enabled(
            if: canUseIPv6Loopback && FileManager.default.isExecutableFile(atPath: "/usr/bin/spawn-fcgi"),
            "needs spawn-fcgi and an IPv6 loopback"))
    func ipv6PeerIsCheckedToo() throws {
        let allowed = try TCPResponder(host: "::1", viaSpawnFCGI: true)
        #expect(try FastCGIProbe.health(host: "::1", port: allowed.port).contains("Status: 200"), "::1 is allowed by default")
        _ = allowed.stop()

        let refused = try TCPResponder(host: "::1", arguments: ["--allowed-peers", "127.0.0.1"], viaSpawnFCGI: true)
        let answer = try FastCGIProbe.health(host: "::1", port: refused.port)
        let log = refused.stop()
        #expect(answer.isEmpty, "an IPv6 peer outside --allowed-peers got an answer: \(answer.debugDescription)")
        #expect(log.contains(#""event":"peer_refused""#), "\(log)")
    }

    @Test(arguments: ["127.0.0.1,example.org", "10.0.0.0/8", "127.0.0.1,,::1", "localhost"])
    func invalidAllowedPeersStopServeWithExit2(_ list: String) throws {
        let dir = NSTemporaryDirectory() + "ct-peer-\(UUID().uuidString.prefix(8))"
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let child = try Child(
            responderBinary, ["serve", "--listen", "127.0.0.1:\(freePort())", "--allowed-peers", list],
            environment: ["CRYOTENSOR_DB": dir + "/cryotensor.db", "PATH": "/usr/bin:/bin"])
        // A responder that took the list would serve forever: give it 10 s to refuse.
        var status: Int32 = 0
        var exited = false
        for _ in 0..<200 where !exited {
            exited = waitpid(child.pid, &status, WNOHANG) == child.pid
            if !exited { usleep(50_000) }
        }
        if !exited {
            child.signal(SIGKILL)
            child.wait()
        }
        let stderr = String(decoding: child.readAll().stderr, as: UTF8.self)
        #expect(exited, "serve started with --allowed-peers \(list)")
        #expect(exited && status & 0x7F == 0 && (status >> 8) & 0xFF == 2, "exit status \(status)")
        #expect(stderr.contains("--allowed-peers"), "\(stderr)")
    }
}

import CFastCGI
import Foundation
import Support
import Synchronization

public struct FastCGIError: Error, Sendable, CustomStringConvertible {
    public let message: String
    public init(_ message: String) { self.message = message }
    public var description: String { "fastcgi: \(message)" }
}

/// Where to listen: a Unix socket path, a TCP host:port, or an inherited socket on fd 0 (spawn-fcgi).
public enum ListenAddress: Sendable, Equatable {
    case unix(path: String)
    case tcp(host: String, port: Int)
    case inherited

    public static func parse(_ text: String) -> ListenAddress? {
        if text.hasPrefix("unix:") {
            let path = String(text.dropFirst(5))
            return path.isEmpty ? nil : .unix(path: path)
        }
        guard let colon = text.lastIndex(of: ":"), let port = Int(text[text.index(after: colon)...]), (1...65535).contains(port) else {
            return nil
        }
        let host = String(text[..<colon])
        return host.isEmpty ? nil : .tcp(host: host, port: port)
    }

    /// True when fd 0 is a socket, as when spawn-fcgi started us.
    public static func stdinIsSocket() -> Bool {
        var st = stat()
        return fstat(0, &st) == 0 && (st.st_mode & S_IFMT) == S_IFSOCK
    }
}

/// The per-thread request handler. Each worker thread builds its own (with its own SQLite and
/// Redis connections) by calling the factory once.
public typealias RequestHandler = (Request, ResponseWriter) -> Void

/// Two lanes behind the one socket. Accepting threads answer short requests themselves and hand
/// long ones (streams, downloads: requests that wait on the network) to an elastic pool of
/// threads, so a health check or a login never queues behind a stream.
public struct Lanes: Sendable {
    /// True for a request that may wait on the network for long.
    public let isLong: @Sendable (Request) -> Bool
    /// Answers a long request on an elastic thread; called from many threads at once.
    public let long: @Sendable (Request, ResponseWriter) -> Void
    /// Answers on the accepting thread when every long slot is taken (503 busy, as JSON).
    public let busy: @Sendable (Request, ResponseWriter) -> Void
    /// Most long requests in flight at once.
    public let maxLong: Int

    public init(
        isLong: @escaping @Sendable (Request) -> Bool, long: @escaping @Sendable (Request, ResponseWriter) -> Void,
        busy: @escaping @Sendable (Request, ResponseWriter) -> Void, maxLong: Int
    ) {
        self.isLong = isLong
        self.long = long
        self.busy = busy
        self.maxLong = maxLong
    }
}

public final class Server: Sendable {
    public struct Options: Sendable {
        public var address: ListenAddress
        public var threads: Int
        public var maxBodyBytes: Int
        public var socketMode: mode_t
        public var socketGroup: String?
        /// The listen backlog (the kernel caps it at net.core.somaxconn).
        public var backlog: Int32 = 1024
        /// Peers a TCP listener accepts (nil: every peer); Unix sockets rely on file permissions.
        public var allowedPeers: PeerAllowList? = .loopback
        /// Hand `allowedPeers` to libfcgi as FCGI_WEB_SERVER_ADDRS; false keeps the operator's own.
        public var setsPeerEnvironment = true
        public init(address: ListenAddress, threads: Int, maxBodyBytes: Int, socketMode: mode_t = 0o660, socketGroup: String? = nil) {
            self.address = address
            self.threads = threads
            self.maxBodyBytes = maxBodyBytes
            self.socketMode = socketMode
            self.socketGroup = socketGroup
        }
    }

    let options: Options
    let listenFD: Int32
    /// The allow list checked after accept on a TCP listener, for the peers libfcgi lets through.
    let peerCheck: PeerAllowList?
    let inFlight = Mutex(0)
    let stopping = Atomic(false)
    /// Accepting threads of an inherited socket, woken by a signal on stop (see `stop()`).
    let acceptors = Acceptors()

    public init(options: Options) throws(FastCGIError) {
        self.options = options
        let tcp = options.address.isTCP
        // libfcgi reads FCGI_WEB_SERVER_ADDRS once, in FCGX_Init.
        if tcp, options.setsPeerEnvironment, let peers = options.allowedPeers {
            guard setenv(PeerAllowList.environmentVariable, peers.environmentValue, 1) == 0 else {
                throw FastCGIError("cannot set \(PeerAllowList.environmentVariable)")
            }
        }
        peerCheck = tcp ? options.allowedPeers : nil
        guard FCGX_Init() == 0 else { throw FastCGIError("FCGX_Init failed") }
        switch options.address {
        case .inherited:
            listenFD = 0
            Acceptors.installWakeHandler()
        case .unix(let path):
            // A stale socket file from a crashed run would make bind fail; only a socket is removed.
            var st = stat()
            if lstat(path, &st) == 0 {
                guard (st.st_mode & S_IFMT) == S_IFSOCK else { throw FastCGIError("\(path) exists and is not a socket") }
                unlink(path)
            }
            let fd = FCGX_OpenSocket(path, options.backlog)
            guard fd >= 0 else { throw FastCGIError("cannot listen on unix:\(path): \(String(cString: strerror(errno)))") }
            if let group = options.socketGroup {
                guard let gr = getgrnam(group) else { throw FastCGIError("unknown group \(group)") }
                guard chown(path, uid_t.max, gr.pointee.gr_gid) == 0 else { throw FastCGIError("cannot chgrp \(path)") }
            }
            guard chmod(path, options.socketMode) == 0 else { throw FastCGIError("cannot chmod \(path)") }
            listenFD = fd
        case .tcp(let host, let port):
            let fd = FCGX_OpenSocket("\(host):\(port)", options.backlog)
            guard fd >= 0 else { throw FastCGIError("cannot listen on \(host):\(port)") }
            listenFD = fd
        }
    }

    public var activeRequests: Int { inFlight.withLock { $0 } }

    /// Serves until `stop()`; returns once every worker has left its accept loop.
    public func run(lanes: Lanes? = nil, makeHandler: @escaping @Sendable () -> RequestHandler) {
        let group = DispatchGroup()
        let elastic = lanes.map { ElasticPool(lanes: $0, server: self) }
        for index in 0..<max(1, options.threads) {
            group.enter()
            let thread = Thread { [self] in
                acceptors.register(index)
                serveLoop(handler: makeHandler(), elastic: elastic, index: index)
                acceptors.unregister(index)
                group.leave()
            }
            thread.name = "fcgi-\(index)"
            thread.stackSize = 4 << 20
            thread.start()
        }
        group.wait()
        if case .unix(let path) = options.address { unlink(path) }
    }

    /// Stops accepting, while requests already accepted run to completion. Our own socket is shut
    /// down, which makes every blocked FCGX_Accept_r return. An inherited socket (spawn-fcgi,
    /// systemd's cryotensor.socket) is left alone: a socket shut down refuses every later
    /// connection, also for the next responder systemd starts on it. Its accepting threads are
    /// woken by a signal instead (their accept fails with EINTR), sent until all have left.
    public func stop() {
        stopping.store(true, ordering: .sequentiallyConsistent)
        guard options.address == .inherited else {
            shutdown(listenFD, Int32(SHUT_RDWR))
            return
        }
        let acceptors = self.acceptors
        let thread = Thread {
            // A thread between its stopping check and accept() misses one signal: repeat.
            while acceptors.wakeAccepting() { usleep(20_000) }
        }
        thread.name = "fcgi-stop"
        thread.start()
    }

    /// Waits up to `seconds` for in-flight requests; true when none is left.
    public func drain(seconds: Double) -> Bool {
        let deadline = Clock.monotonicMillis() + seconds * 1000
        while Clock.monotonicMillis() < deadline {
            if activeRequests == 0 { return true }
            usleep(20_000)
        }
        return activeRequests == 0
    }

    /// A fresh request struct at a fixed address: FCGX_Accept_r finishes whatever struct it is
    /// given, so one handed to another thread is never accepted into again.
    func newRequest() -> UnsafeMutablePointer<FCGX_Request>? {
        let request = UnsafeMutablePointer<FCGX_Request>.allocate(capacity: 1)
        // On an inherited socket an interrupted accept returns, so stop() can wake the thread.
        let flags = options.address == .inherited ? FCGI_FAIL_ACCEPT_ON_INTR : 0
        guard FCGX_InitRequest(request, listenFD, Int32(flags)) == 0 else { request.deallocate(); return nil }
        return request
    }

    func serveLoop(handler: RequestHandler, elastic: ElasticPool?, index: Int) {
        guard var request = newRequest() else { return }
        var ownsRequest = true
        defer { if ownsRequest { request.deallocate() } }
        while !stopping.load(ordering: .sequentiallyConsistent) {
            acceptors.setAccepting(index, true)
            // Checked again once stop() can see this thread accepting.
            if stopping.load(ordering: .sequentiallyConsistent) { acceptors.setAccepting(index, false); break }
            let rc = FCGX_Accept_r(request)
            acceptors.setAccepting(index, false)
            if rc < 0 {
                if stopping.load(ordering: .sequentiallyConsistent) { break }
                if rc == -Int32(EINTR) { continue }
                Log.event(.error, "accept_failed", ["code": JSON(Int(rc))])
                usleep(100_000)
                continue
            }
            if let peers = peerCheck {
                let verdict = peers.allowsPeer(of: request.pointee.ipcFd)
                if !verdict.allowed {
                    // A peer libfcgi did not check (IPv6): close without reading or answering.
                    Log.event(.warn, "peer_refused", ["peer": .string(verdict.peer)])
                    FCGX_Free(request, 1)
                    continue
                }
            }
            inFlight.withLock { $0 += 1 }
            let parsed = readRequest(request)
            if let elastic, elastic.lanes.isLong(parsed) {
                if elastic.start(request, parsed) {
                    // The elastic thread owns it now, and finishes and frees it.
                    guard let next = newRequest() else { ownsRequest = false; return }
                    request = next
                    continue
                }
                let writer = ResponseWriter(stream: request.pointee.out)
                elastic.lanes.busy(parsed, writer)
            } else {
                let writer = ResponseWriter(stream: request.pointee.out)
                handler(parsed, writer)
            }
            FCGX_Finish_r(request)
            inFlight.withLock { $0 -= 1 }
        }
        FCGX_Free(request, 1)
    }

    /// Called by an elastic thread when it has answered a handed-over request.
    func finishHandedOver(_ request: UnsafeMutablePointer<FCGX_Request>) {
        // The struct is freed below, so its connection must close with it (no keep-alive).
        request.pointee.keepConnection = 0
        FCGX_Finish_r(request)
        request.deallocate()
        inFlight.withLock { $0 -= 1 }
    }

    func readRequest(_ request: UnsafeMutablePointer<FCGX_Request>) -> Request {
        var params: [String: String] = [:]
        if var envp = request.pointee.envp {
            while let entry = envp.pointee {
                // Split at the first '=' byte: a Character search cost half of reading a request
                // (callgrind, issue 14), and a value starting with a combining mark hid its '='.
                if let eq = strchr(entry, 0x3D) {
                    let name = UnsafeRawBufferPointer(start: entry, count: entry.distance(to: eq))
                    params[String(decoding: name, as: UTF8.self)] = String(cString: eq + 1)
                }
                envp += 1
            }
        }
        let declared = params["CONTENT_LENGTH"].flatMap { Int($0) } ?? 0
        if declared > options.maxBodyBytes {
            return Request(params: params, bodyTooLarge: true)
        }
        // Read to EOF but never past the limit, whatever CONTENT_LENGTH claimed.
        var body: [UInt8] = []
        var chunk = [CChar](repeating: 0, count: 65536)
        while let input = request.pointee.in {
            let n = FCGX_GetStr(&chunk, Int32(chunk.count), input)
            if n <= 0 { break }
            body.append(contentsOf: chunk[0..<Int(n)].map { UInt8(bitPattern: $0) })
            if body.count > options.maxBodyBytes { return Request(params: params, bodyTooLarge: true) }
        }
        return Request(params: params, body: body)
    }
}

/// The accepting threads, for waking them with a signal. The flag is set and cleared under the
/// lock that stop() holds while it signals, so a thread is signalled only while it is in
/// FCGX_Accept_r: a request it already accepted never sees EINTR from its reads or writes.
final class Acceptors: Sendable {
    struct Entry {
        let thread: pthread_t
        var accepting: Bool
    }

    let entries = Mutex<[Int: Entry]>([:])
    static let wakeSignal = SIGUSR2

    /// A handler that does nothing, installed without SA_RESTART, so the signal interrupts accept().
    static func installWakeHandler() {
        var action = sigaction()
        action.__sigaction_handler.sa_handler = { _ in }
        sigemptyset(&action.sa_mask)
        action.sa_flags = 0
        sigaction(wakeSignal, &action, nil)
    }

    func register(_ index: Int) {
        entries.withLock { $0[index] = Entry(thread: pthread_self(), accepting: false) }
    }

    func unregister(_ index: Int) {
        _ = entries.withLock { $0.removeValue(forKey: index) }
    }

    func setAccepting(_ index: Int, _ accepting: Bool) {
        entries.withLock { $0[index]?.accepting = accepting }
    }

    /// Signals every thread now accepting; false once no thread is left to wake.
    func wakeAccepting() -> Bool {
        entries.withLock { entries in
            for entry in entries.values where entry.accepting { pthread_kill(entry.thread, Self.wakeSignal) }
            return !entries.isEmpty
        }
    }
}

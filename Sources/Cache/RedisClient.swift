import CHiredis
import Support

#if canImport(Glibc)
import Glibc
#endif

public struct RedisError: Error, Sendable, CustomStringConvertible {
    public let message: String
    public init(_ message: String) { self.message = message }
    public var description: String { "redis: \(message)" }
}

/// Where redis-server listens: parsed from `REDIS_URL` (`redis://[USER:PASSWORD@]HOST:PORT[/DB]` or
/// `unix:///PATH[?db=N&user=U&password=P]`). The password is a secret: this type prints as a mask.
public struct RedisEndpoint: Sendable, Equatable, CustomStringConvertible {
    public enum Address: Sendable, Equatable {
        case tcp(host: String, port: Int)
        case unix(path: String)
    }
    public let address: Address
    public let database: Int
    /// AUTH credentials (Redis 6 ACL user, or the `requirepass` password alone).
    public let username: String?
    let password: String?

    public init(address: Address, database: Int = 0, username: String? = nil, password: String? = nil) {
        self.address = address
        self.database = database
        self.username = username
        self.password = password
    }

    public var hasPassword: Bool { password != nil }

    public var description: String {
        let auth = password == nil ? "" : "\(username ?? ""):***@"
        switch address {
        case .tcp(let host, let port): return "redis://\(auth)\(host):\(port)/\(database)"
        case .unix(let path): return "unix://\(path)?db=\(database)\(password == nil ? "" : "&password=***")"
        }
    }

    /// The URL as `check-config` shows it: any password replaced by `***`.
    public static func masked(_ url: String) -> String {
        parse(url)?.description ?? "(invalid)"
    }

    static func decode(_ text: Substring) -> String? {
        var out: [UInt8] = []
        var bytes = Array(text.utf8)[...]
        while let b = bytes.popFirst() {
            if b == UInt8(ascii: "%") {
                guard bytes.count >= 2, let v = UInt8(String(decoding: bytes.prefix(2), as: UTF8.self), radix: 16) else { return nil }
                out.append(v)
                bytes = bytes.dropFirst(2)
            } else {
                out.append(b)
            }
        }
        guard let s = String(validating: out, as: UTF8.self), !s.unicodeScalars.contains(where: { $0.value < 0x20 }) else { return nil }
        return s
    }

    public static func parse(_ url: String) -> RedisEndpoint? {
        if url.hasPrefix("unix://") {
            var path = String(url.dropFirst("unix://".count))
            var database = 0
            var username: String? = nil
            var password: String? = nil
            if let q = path.firstIndex(of: "?") {
                let query = path[path.index(after: q)...]
                path = String(path[..<q])
                for pair in query.split(separator: "&") {
                    if pair.hasPrefix("db=") {
                        guard let db = Int(pair.dropFirst(3)), db >= 0, db < 1024 else { return nil }
                        database = db
                    } else if pair.hasPrefix("user=") {
                        guard let u = decode(pair.dropFirst(5)), !u.isEmpty else { return nil }
                        username = u
                    } else if pair.hasPrefix("password=") {
                        guard let p = decode(pair.dropFirst(9)), !p.isEmpty else { return nil }
                        password = p
                    } else {
                        return nil
                    }
                }
            }
            guard path.hasPrefix("/"), path.count > 1, username == nil || password != nil else { return nil }
            return RedisEndpoint(address: .unix(path: path), database: database, username: username, password: password)
        }
        guard url.hasPrefix("redis://") else { return nil }
        var rest = Substring(url.dropFirst("redis://".count))
        var username: String? = nil
        var password: String? = nil
        if let at = rest.lastIndex(of: "@") {
            let userinfo = rest[..<at]
            rest = rest[rest.index(after: at)...]
            if let colon = userinfo.firstIndex(of: ":") {
                let user = userinfo[..<colon]
                guard let p = decode(userinfo[userinfo.index(after: colon)...]), !p.isEmpty else { return nil }
                password = p
                if !user.isEmpty {
                    guard let u = decode(user) else { return nil }
                    username = u
                }
            } else {
                // redis://PASSWORD@host is how some tools spell requirepass.
                guard let p = decode(userinfo), !p.isEmpty else { return nil }
                password = p
            }
        }
        var database = 0
        if let slash = rest.firstIndex(of: "/") {
            let dbText = rest[rest.index(after: slash)...]
            rest = rest[..<slash]
            if !dbText.isEmpty {
                guard let db = Int(dbText), db >= 0, db < 1024 else { return nil }
                database = db
            }
        }
        var host = String(rest)
        var port = 6379
        if rest.hasPrefix("[") {
            guard let close = rest.firstIndex(of: "]") else { return nil }
            host = String(rest[rest.index(after: rest.startIndex)..<close])
            let after = rest[rest.index(after: close)...]
            if after.hasPrefix(":") {
                guard let p = Int(after.dropFirst()), (1...65535).contains(p) else { return nil }
                port = p
            } else if !after.isEmpty { return nil }
        } else if let colon = rest.lastIndex(of: ":") {
            host = String(rest[..<colon])
            guard let p = Int(rest[rest.index(after: colon)...]), (1...65535).contains(p) else { return nil }
            port = p
        }
        guard !host.isEmpty, !host.contains("@") else { return nil }
        return RedisEndpoint(address: .tcp(host: host, port: port), database: database, username: username, password: password)
    }
}

public enum RedisReply: Sendable, Equatable {
    case string(String)
    case integer(Int64)
    case array([RedisReply])
    case nil_
    case status(String)

    public var string: String? {
        switch self {
        case .string(let s), .status(let s): return s
        default: return nil
        }
    }
    public var integer: Int64? { if case .integer(let i) = self { return i }; return nil }
}

/// One blocking hiredis connection, owned by one thread. On any I/O error the connection is
/// dropped and re-opened on a later call, at most once per `retryInterval`, so a stopped
/// redis-server costs each request at most one short connect attempt per interval.
public final class RedisClient {
    public let endpoint: RedisEndpoint
    var context: UnsafeMutablePointer<redisContext>?
    var lastFailure: Double = -1_000_000
    let retryIntervalMillis: Double
    let timeout: timeval

    public init(endpoint: RedisEndpoint, timeoutMillis: Int = 250, retryIntervalMillis: Double = 1000) {
        self.endpoint = endpoint
        self.retryIntervalMillis = retryIntervalMillis
        self.timeout = timeval(tv_sec: timeoutMillis / 1000, tv_usec: Int((timeoutMillis % 1000) * 1000))
    }

    deinit { if let context { redisFree(context) } }

    func connect() throws(RedisError) -> UnsafeMutablePointer<redisContext> {
        if let context { return context }
        let now = Clock.monotonicMillis()
        guard now - lastFailure >= retryIntervalMillis else { throw RedisError("unavailable (retrying shortly)") }
        let ctx: UnsafeMutablePointer<redisContext>?
        switch endpoint.address {
        case .tcp(let host, let port): ctx = redisConnectWithTimeout(host, Int32(port), timeout)
        case .unix(let path): ctx = redisConnectUnixWithTimeout(path, timeout)
        }
        guard let ctx else { lastFailure = now; throw RedisError("out of memory") }
        if ctx.pointee.err != 0 {
            let message = withUnsafeBytes(of: ctx.pointee.errstr) { String(decoding: $0.prefix(while: { $0 != 0 }), as: UTF8.self) }
            redisFree(ctx)
            lastFailure = now
            throw RedisError("connect: \(message)")
        }
        redisSetTimeout(ctx, timeout)
        context = ctx
        do throws(RedisError) {
            if let password = endpoint.password {
                // A refused AUTH says only that it failed: the reply never carries the password.
                do throws(RedisError) {
                    _ = try command(endpoint.username.map { ["AUTH", $0, password] } ?? ["AUTH", password])
                } catch {
                    throw RedisError("AUTH refused")
                }
            }
            if endpoint.database != 0 {
                _ = try command(["SELECT", String(endpoint.database)])
            }
        } catch {
            drop()
            throw error
        }
        return ctx
    }

    func drop() {
        if let context { redisFree(context) }
        context = nil
        lastFailure = Clock.monotonicMillis()
    }

    /// Sends one command. Arguments are binary-safe; nothing is interpolated into a command string.
    @discardableResult
    public func command(_ args: [String]) throws(RedisError) -> RedisReply {
        try command(args.map { Array($0.utf8) })
    }

    @discardableResult
    public func command(_ args: [[UInt8]]) throws(RedisError) -> RedisReply {
        let ctx = try connect()
        let lengths = args.map { $0.count }
        let raw = withPointers(args) { pointers in
            lengths.withUnsafeBufferPointer { lens in
                redisCommandArgv(ctx, Int32(args.count), pointers, lens.baseAddress)
            }
        }
        guard let raw else {
            drop()
            throw RedisError("connection lost")
        }
        let reply = raw.assumingMemoryBound(to: redisReply.self)
        defer { freeReplyObject(raw) }
        if reply.pointee.type == REDIS_REPLY_ERROR {
            throw RedisError(String(decoding: UnsafeRawBufferPointer(start: reply.pointee.str, count: reply.pointee.len), as: UTF8.self))
        }
        return Self.convert(reply)
    }

    func withPointers<T>(_ args: [[UInt8]], _ body: (UnsafeMutablePointer<UnsafePointer<CChar>?>) -> T) -> T {
        let buffers = args.map { arg -> UnsafeMutablePointer<CChar> in
            let p = UnsafeMutablePointer<CChar>.allocate(capacity: max(arg.count, 1))
            arg.withUnsafeBytes { raw in
                if let base = raw.baseAddress { p.withMemoryRebound(to: UInt8.self,
                    capacity: arg.count) { $0.update(from: base.assumingMemoryBound(to: UInt8.self), count: arg.count) } }
            }
            return p
        }
        defer { buffers.forEach { $0.deallocate() } }
        var pointers: [UnsafePointer<CChar>?] = buffers.map { UnsafePointer($0) }
        return pointers.withUnsafeMutableBufferPointer { buffer in
            guard let base = buffer.baseAddress else { preconditionFailure("argv is never empty") }
            return body(base)
        }
    }

    static func convert(_ reply: UnsafeMutablePointer<redisReply>) -> RedisReply {
        let r = reply.pointee
        switch r.type {
        case REDIS_REPLY_STRING:
            return .string(String(decoding: UnsafeRawBufferPointer(start: r.str, count: r.len), as: UTF8.self))
        case REDIS_REPLY_STATUS:
            return .status(String(decoding: UnsafeRawBufferPointer(start: r.str, count: r.len), as: UTF8.self))
        case REDIS_REPLY_INTEGER: return .integer(Int64(r.integer))
        case REDIS_REPLY_ARRAY:
            var items: [RedisReply] = []
            for i in 0..<r.elements {
                if let element = r.element[i] { items.append(convert(element)) }
            }
            return .array(items)
        default: return .nil_
        }
    }

    /// True when redis-server answers PING now.
    public func ping() -> Bool {
        (try? command(["PING"]))?.string == "PONG"
    }
}

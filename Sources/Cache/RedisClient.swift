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

public enum RedisReply: Sendable, Equatable {
    case string(String)
    case integer(Int64)
    case array([RedisReply])
    // `nil` is taken by Optional; callers already match on this name.
    // swift-format-ignore: AlwaysUseLowerCamelCase
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
                if let base = raw.baseAddress {
                    p.withMemoryRebound(
                        to: UInt8.self,
                        capacity: arg.count
                    ) { $0.update(from: base.assumingMemoryBound(to: UInt8.self), count: arg.count) }
                }
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

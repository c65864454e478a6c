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
            } else if !after.isEmpty {
                return nil
            }
        } else if let colon = rest.lastIndex(of: ":") {
            host = String(rest[..<colon])
            guard let p = Int(rest[rest.index(after: colon)...]), (1...65535).contains(p) else { return nil }
            port = p
        }
        guard !host.isEmpty, !host.contains("@") else { return nil }
        return RedisEndpoint(address: .tcp(host: host, port: port), database: database, username: username, password: password)
    }
}

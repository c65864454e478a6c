import Foundation
import Testing

/// nginx as Debian installs it, or nil (the nginx -t test is then skipped).
let nginxBinary: String? = ["/usr/sbin/nginx", "/usr/bin/nginx"].first { FileManager.default.isExecutableFile(atPath: $0) }

@Suite("nginx configuration: accepted by this nginx, no query strings in access logs")
struct NginxConfigTests {
    static let productionSite = projectRoot.appendingPathComponent("nginx/cryotensor.conf")
    static let appSnippet = projectRoot.appendingPathComponent("nginx/cryotensor-app.conf.in")
    static let localTemplate = projectRoot.appendingPathComponent("nginx/local.conf.in")
    /// Where docs/deployment.md installs the snippet; the site includes it by this path.
    static let installedSnippet = "/etc/nginx/snippets/cryotensor-app.conf"

    @Test(.enabled(if: nginxBinary != nil, "nginx is not installed: cannot run nginx -t"))
    func productionConfigPassesNginxTest() throws {
        let nginx = try #require(nginxBinary)
        let dir = URL(fileURLWithPath: NSTemporaryDirectory()).appendingPathComponent("ct-nginx-\(UUID().uuidString.prefix(8))")
        defer { try? FileManager.default.removeItem(at: dir) }
        let logDir = dir.appendingPathComponent("log")
        try FileManager.default.createDirectory(at: logDir, withIntermediateDirectories: true)
        try FileManager.default.createDirectory(at: dir.appendingPathComponent("www"), withIntermediateDirectories: true)

        // nginx -t loads the certificates, so the Let's Encrypt paths point at a throwaway pair.
        let cert = dir.appendingPathComponent("fullchain.pem").path, key = dir.appendingPathComponent("privkey.pem").path
        let openssl = try runCommand(
            "/usr/bin/openssl",
            [
                "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", key,
                "-out", cert, "-days", "1", "-subj", "/CN=chat.example.org"
            ])
        try #require(openssl.status == 0, "openssl could not make a test certificate: \(openssl.stderr)")

        let snippet = try String(contentsOf: Self.appSnippet, encoding: .utf8)
            .replacingOccurrences(of: "@WWW@", with: dir.appendingPathComponent("www").path)
            .replacingOccurrences(of: "@SOCKET@", with: dir.appendingPathComponent("cryotensor.sock").path)
        let snippetPath = dir.appendingPathComponent("cryotensor-app.conf").path
        try snippet.write(toFile: snippetPath, atomically: true, encoding: .utf8)

        let site = try String(contentsOf: Self.productionSite, encoding: .utf8)
            .replacingOccurrences(of: Self.installedSnippet, with: snippetPath)
            .replacingOccurrences(of: "/etc/letsencrypt/live/chat.example.org/fullchain.pem", with: cert)
            .replacingOccurrences(of: "/etc/letsencrypt/live/chat.example.org/privkey.pem", with: key)
            .replacingOccurrences(of: "/var/log/nginx/", with: logDir.path + "/")
        // Every outside path must have been rewritten, or nginx -t would test the host's files.
        for outside in ["/etc/letsencrypt", "/etc/nginx/snippets", "/var/log/nginx"] {
            #expect(!site.contains(outside), "nginx/cryotensor.conf uses \(outside) in a way this test does not rewrite")
        }
        let sitePath = dir.appendingPathComponent("cryotensor.conf").path
        try site.write(toFile: sitePath, atomically: true, encoding: .utf8)

        // The site goes inside Debian's own nginx.conf, as sites-enabled/ would put it.
        let main = try mainConfig(including: sitePath, dir: dir, logDir: logDir)
        let mainPath = dir.appendingPathComponent("nginx.conf").path
        try main.write(toFile: mainPath, atomically: true, encoding: .utf8)

        let result = try runCommand(nginx, ["-t", "-e", logDir.appendingPathComponent("error.log").path, "-c", mainPath])
        #expect(result.status == 0, "nginx -t failed on nginx/cryotensor.conf:\n\(result.stderr)")
        #expect(result.stderr.contains("test is successful"), "\(result.stderr)")
    }

    /// /etc/nginx/nginx.conf with its pid, logs and sites-enabled pointed into `dir`; a minimal
    /// http block when this host has no Debian nginx.conf.
    func mainConfig(including site: String, dir: URL, logDir: URL) throws -> String {
        let debianMain = "/etc/nginx/nginx.conf"
        guard let text = try? String(contentsOfFile: debianMain, encoding: .utf8) else {
            return """
                pid \(dir.path)/nginx.pid;
                events {}
                http { include /etc/nginx/mime.types; access_log \(logDir.path)/access.log; include \(site); }
                """
        }
        var sawSites = false
        var lines: [String] = []
        for line in text.components(separatedBy: "\n") {
            let trimmed = line.trimmingCharacters(in: .whitespaces)
            if trimmed.hasPrefix("pid ") {
                lines.append("pid \(dir.path)/nginx.pid;")
            } else if trimmed.hasPrefix("include /etc/nginx/sites-enabled/") {
                sawSites = true
                lines.append("include \(site);")
            } else if trimmed.hasPrefix("include /etc/nginx/conf.d/") {
                continue  // this host's extra files are not the subject of the test
            } else {
                lines.append(line.replacingOccurrences(of: "/var/log/nginx/", with: logDir.path + "/"))
            }
        }
        try #require(sawSites, "\(debianMain) has no 'include /etc/nginx/sites-enabled/' line to put the site in")
        return lines.joined(separator: "\n")
    }

    @Test func accessLogsUseQueryFreeFormats() throws {
        // Production: the site and the snippet it includes, inside Debian's http block, whose own
        // access_log uses "combined" (with $request) unless each server sets its own.
        let site = try NginxConf.parse(String(contentsOf: Self.productionSite, encoding: .utf8))
        let snippet = try NginxConf.parse(String(contentsOf: Self.appSnippet, encoding: .utf8))
        let production = NginxConf.inline(site, includes: [Self.installedSnippet: snippet])
        #expect(
            !NginxConf.all(production) { $0.name == "include" && $0.args.first == Self.installedSnippet }.isEmpty,
            "the production site no longer includes \(Self.installedSnippet); update this test")
        let servers = NginxConf.all(production) { $0.name == "server" }
        #expect(!servers.isEmpty, "no server block found in nginx/cryotensor.conf")
        for server in servers {
            let names = server.block?.first { $0.name == "server_name" }?.args.joined(separator: " ") ?? "?"
            #expect(
                server.block?.contains { $0.name == "access_log" } == true,
                "a server block (\(names)) in nginx/cryotensor.conf inherits Debian's 'combined' access_log, which logs $request")
        }
        try checkAccessLogs(production, file: "nginx/cryotensor.conf")

        let local = try NginxConf.parse(String(contentsOf: Self.localTemplate, encoding: .utf8))
        try checkAccessLogs(NginxConf.inline(local, includes: ["@VAR@/nginx/cryotensor-app.conf": snippet]), file: "nginx/local.conf.in")
    }

    /// Every access_log names a defined format without a query-carrying variable.
    func checkAccessLogs(_ directives: [NginxConf.Directive], file: String) throws {
        // nginx's predefined format.
        let combined = #"$remote_addr - $remote_user [$time_local] "$request" $status $body_bytes_sent "$http_referer" "$http_user_agent""#
        var formats = ["combined": combined]
        for format in NginxConf.all(directives, where: { $0.name == "log_format" }) {
            guard let name = format.args.first else { continue }
            // Skip `escape=` and join the remaining strings, as nginx does.
            formats[name] = format.args.dropFirst().filter { !$0.hasPrefix("escape=") }.joined()
        }
        let logs = NginxConf.all(directives) { $0.name == "access_log" }
        #expect(!logs.isEmpty, "\(file) sets no access_log")
        for log in logs where log.args.first != "off" {
            // access_log PATH [FORMAT [buffer=...] [if=...]]; without a format nginx uses combined.
            let formatName = log.args.dropFirst().first.flatMap { $0.contains("=") ? nil : $0 } ?? "combined"
            let format = try #require(formats[formatName], "\(file): access_log uses undefined log_format \(formatName)")
            let leaking = NginxConf.variables(in: format).filter { NginxConf.carriesQuery($0) }
            #expect(leaking.isEmpty, "\(file): access_log \(log.args.joined(separator: " ")) logs \(leaking.map { "$" + $0 })")
        }
    }

    @Test func searchTermsStayOutOfTheAccessLog() throws {
        let stack = try Stack()
        let client = try stack.signedIn("logs@example.com", admin: true)
        let planted = "plantedterm" + UUID().uuidString.replacingOccurrences(of: "-", with: "").lowercased()
        let found = try client.get("/chats/search?q=\(planted)")
        #expect(found.status == 200, "the search should reach the responder: \(found.status) \(found.text)")

        let access = stack.log("nginx-access.log")
        // The request is logged (so the file is the right one), only without its query string.
        #expect(access.contains("GET /api/v1/chats/search"), "no search request in nginx's access log:\n\(access)")
        #expect(!access.contains(planted), "the search term reached nginx's access log:\n\(access)")
    }
}

/// Just enough of nginx's configuration syntax to find directives: words, quoted strings,
/// `;`, blocks and comments.
enum NginxConf {
    struct Directive {
        let name: String
        let args: [String]
        let block: [Directive]?
    }

    struct SyntaxError: Error, CustomStringConvertible {
        let description: String
    }

    static func parse(_ text: String) throws -> [Directive] {
        var tokens = tokenize(Array(text.unicodeScalars))[...]
        let directives = try parseBlock(&tokens)
        guard tokens.isEmpty else { throw SyntaxError(description: "unbalanced '}'") }
        return directives
    }

    enum Token: Equatable {
        case word(String)
        case semicolon, open, close
    }

    static func tokenize(_ chars: [Unicode.Scalar]) -> [Token] {
        var tokens: [Token] = []
        var i = 0
        while i < chars.count {
            let c = chars[i]
            if c.properties.isWhitespace { i += 1; continue }
            switch c {
            case "#":
                while i < chars.count, chars[i] != "\n" { i += 1 }
            case ";": tokens.append(.semicolon); i += 1
            case "{": tokens.append(.open); i += 1
            case "}": tokens.append(.close); i += 1
            case "'", "\"":
                var word = String.UnicodeScalarView()
                i += 1
                while i < chars.count, chars[i] != c {
                    if chars[i] == "\\", i + 1 < chars.count { i += 1 }
                    word.append(chars[i])
                    i += 1
                }
                i += 1
                tokens.append(.word(String(word)))
            default:
                var word = String.UnicodeScalarView()
                while i < chars.count, !chars[i].properties.isWhitespace, !";{}".unicodeScalars.contains(chars[i]) {
                    word.append(chars[i])
                    i += 1
                }
                tokens.append(.word(String(word)))
            }
        }
        return tokens
    }

    static func parseBlock(_ tokens: inout ArraySlice<Token>) throws -> [Directive] {
        var directives: [Directive] = []
        while let first = tokens.first {
            if first == .close { return directives }
            guard case .word(let name) = tokens.removeFirst() else { throw SyntaxError(description: "expected a directive name") }
            var args: [String] = []
            while true {
                guard let token = tokens.first else { throw SyntaxError(description: "\(name): missing ';'") }
                tokens.removeFirst()
                switch token {
                case .word(let w): args.append(w); continue
                case .semicolon: directives.append(Directive(name: name, args: args, block: nil))
                case .open:
                    let block = try parseBlock(&tokens)
                    guard tokens.first == .close else { throw SyntaxError(description: "\(name): missing '}'") }
                    tokens.removeFirst()
                    directives.append(Directive(name: name, args: args, block: block))
                case .close: throw SyntaxError(description: "\(name): unexpected '}'")
                }
                break
            }
        }
        return directives
    }

    /// Replaces each `include` of a known path with that file's directives (the include stays too).
    static func inline(_ directives: [Directive], includes: [String: [Directive]]) -> [Directive] {
        directives.flatMap { d -> [Directive] in
            if d.name == "include", let path = d.args.first, let included = includes[path] { return [d] + included }
            return [Directive(name: d.name, args: d.args, block: d.block.map { inline($0, includes: includes) })]
        }
    }

    /// Every directive, at any depth, that matches.
    static func all(_ directives: [Directive], where match: (Directive) -> Bool) -> [Directive] {
        directives.flatMap { d in (match(d) ? [d] : []) + all(d.block ?? [], where: match) }
    }

    /// Variable names in a format string: `$name` and `${name}`.
    static func variables(in format: String) -> [String] {
        var names: [String] = []
        var rest = Substring(format)
        while let dollar = rest.firstIndex(of: "$") {
            rest = rest[rest.index(after: dollar)...]
            if rest.first == "{" {
                let close = rest.firstIndex(of: "}") ?? rest.endIndex
                names.append(String(rest[rest.index(after: rest.startIndex)..<close]))
                rest = rest[close...]
            } else {
                let name = rest.prefix { $0.isLetter || $0.isNumber || $0 == "_" }
                names.append(String(name))
                rest = rest[name.endIndex...]
            }
        }
        return names
    }

    /// Variables that hold the query string, one of its arguments, or the body.
    static func carriesQuery(_ name: String) -> Bool {
        ["request", "request_uri", "args", "query_string", "request_body"].contains(name) || name.hasPrefix("arg_")
    }
}

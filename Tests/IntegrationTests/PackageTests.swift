import Foundation
import Support
import Testing

/// The Debian package end to end: scripts/package builds it, lintian and dpkg-deb inspect it, apt
/// installs it on this machine, and the installed responder is started as cryotensor.socket and
/// cryotensor.service would start it, behind the packaged nginx files. Purged at the end.
@Suite("Debian package: build, lintian, install, socket on fd 0, nginx, purge", .serialized)
struct PackageTests {
    static let tools = [
        "/usr/bin/dpkg-deb", "/usr/bin/dpkg-shlibdeps", "/usr/bin/lintian", "/usr/bin/patchelf", "/usr/bin/strace",
        "/usr/bin/systemd-analyze", "/usr/bin/spawn-fcgi", "/usr/bin/apt-get", "/usr/bin/curl", "/usr/bin/openssl",
        "/usr/sbin/nginx"
    ]

    /// Why the test cannot run here, or nil.
    static let skipReason: String? = {
        if getuid() != 0 { return "installing a package needs root (scripts/test runs as root)" }
        let missing = tools.filter { !FileManager.default.isExecutableFile(atPath: $0) }
        if !missing.isEmpty { return "missing \(missing.joined(separator: ", ")): run scripts/setup" }
        let swift = ProcessInfo.processInfo.environment["PATH", default: ""].split(separator: ":")
            .contains { FileManager.default.isExecutableFile(atPath: "\($0)/swift") }
        return swift ? nil : "swift is not on PATH: cannot build the release binary"
    }()

    static let installedUnits = ["/lib/systemd/system/cryotensor.socket", "/lib/systemd/system/cryotensor.service"]
    static let socketPath = "/run/cryotensor/cryotensor.sock"

    @Test(.enabled(if: skipReason == nil, Comment(rawValue: skipReason ?? "")), .timeLimit(.minutes(10)))
    func packageBuildsInstallsServesAndPurges() throws {
        let deb = try buildPackage()
        try checkLintian(deb)
        try checkContents(deb)

        let userExisted = (try? runCommand("/usr/bin/getent", ["passwd", "cryotensor"]))?.status == 0
        try purge()  // a run that failed half-way may have left it installed
        defer {
            try? purge()
            if !userExisted { _ = try? runCommand("/usr/sbin/deluser", ["--system", "--quiet", "cryotensor"]) }
        }
        try install(deb)
        try checkInstalledFiles()
        try checkUnits()
        try checkServesThroughNginx()

        try purge()
        #expect(!FileManager.default.fileExists(atPath: "/var/lib/cryotensor"), "purge left /var/lib/cryotensor behind")
        #expect(!FileManager.default.fileExists(atPath: "/etc/cryotensor/env"), "purge left /etc/cryotensor/env behind")
    }

    /// systemd keeps cryotensor.socket open across restarts of the service: a responder stopped
    /// with SIGTERM must answer what it accepted and leave the socket able to accept, so the next
    /// one serves it (a shut-down socket would refuse every later connection). A small Python
    /// helper plays systemd: it owns the socket and starts each responder with it on fd 0.
    @Test(.enabled(if: FileManager.default.isExecutableFile(atPath: "/usr/bin/python3"), "python3 is needed to hold the socket"))
    func sigtermLeavesTheInheritedSocketToTheNextResponder() throws {
        let dir = NSTemporaryDirectory() + "ct-inherit-\(UUID().uuidString.prefix(8))"
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let helper = #"""
            import socket, struct, subprocess, sys, time
            binary, path, db = sys.argv[1:4]
            listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            listener.bind(path)
            listener.listen(16)
            def record(kind, content):
                return struct.pack(">BBHHBx", 1, kind, 1, len(content), 0) + content
            def pair(name, value):
                return bytes([len(name), len(value)]) + name + value
            for round in range(2):
                responder = subprocess.Popen([binary, "serve", "--threads", "2"], stdin=listener.fileno(),
                                             env={"CRYOTENSOR_DB": db}, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
                params = b"".join(pair(k, v) for k, v in [(b"REQUEST_METHOD", b"GET"), (b"REQUEST_URI", b"/api/v1/health"),
                                                          (b"REMOTE_ADDR", b"127.0.0.1")])
                client = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
                client.connect(path)
                client.sendall(record(1, struct.pack(">HB5x", 1, 0)) + record(4, params) + record(4, b""))
                time.sleep(1.0)
                # SIGTERM while the request's body (stdin) has not arrived: it is in flight.
                responder.terminate()
                time.sleep(0.3)
                client.sendall(record(5, b""))
                answer = b""
                while chunk := client.recv(65536):
                    answer += chunk
                print(f"round {round}: answer {answer[8:22]!r} exit {responder.wait(timeout=30)}", flush=True)
            """#
        let result = try runCommand("/usr/bin/python3", ["-c", helper, responderBinary, dir + "/ct.sock", dir + "/db.sqlite"])
        #expect(result.stdout.contains("round 0: answer b'Status: 200 OK' exit 0"), "\(result.stdout)\(result.stderr)")
        #expect(
            result.stdout.contains("round 1: answer b'Status: 200 OK' exit 0"),
            "the second responder could not serve the socket the first one left:\n\(result.stdout)\(result.stderr)")
    }

    // MARK: build and inspect

    func buildPackage() throws -> String {
        let build = try runCommand(projectRoot.appendingPathComponent("scripts/package").path, [])
        try #require(build.status == 0, "scripts/package failed:\n\(build.stdout)\n\(build.stderr)")
        let binary = projectRoot.appendingPathComponent(".build-package/release/cryotensor").path
        let version = try runCommand(binary, ["version"]).stdout.trimmingCharacters(in: .whitespacesAndNewlines)
        let arch = try runCommand("/usr/bin/dpkg", ["--print-architecture"]).stdout.trimmingCharacters(in: .whitespacesAndNewlines)
        let deb = projectRoot.appendingPathComponent("dist/cryotensor_\(version)_\(arch).deb").path
        try #require(FileManager.default.fileExists(atPath: deb), "scripts/package did not write \(deb):\n\(build.stdout)")
        return deb
    }

    /// No error and no warning: the one warning kept is overridden with its reason (docs/deployment.md).
    func checkLintian(_ deb: String) throws {
        let lintian = try runCommand("/usr/bin/lintian", [deb])
        let findings = lintian.stdout.split(separator: "\n").filter { $0.hasPrefix("E:") || $0.hasPrefix("W:") }
        #expect(lintian.status == 0 && findings.isEmpty, "lintian:\n\(lintian.stdout)\(lintian.stderr)")
    }

    func checkContents(_ deb: String) throws {
        let listing = try runCommand("/usr/bin/dpkg-deb", ["-c", deb])
        try #require(listing.status == 0, "dpkg-deb -c: \(listing.stderr)")
        // Paths as dpkg-deb prints them, with their modes.
        let entries = Dictionary(
            listing.stdout.split(separator: "\n").compactMap { line -> (String, String)? in
                let fields = line.split(separator: " ", omittingEmptySubsequences: true)
                guard let mode = fields.first, let path = fields.last else { return nil }
                return (String(path.dropFirst()), String(mode))
            }, uniquingKeysWith: { first, _ in first })
        let expected = [
            "/usr/bin/cryotensor": "-rwxr-xr-x", "/usr/share/cryotensor/www/index.html": "-rw-r--r--",
            "/usr/share/cryotensor/www/app.js": "-rw-r--r--", "/etc/cryotensor/env": "-rw-r-----",
            "/lib/systemd/system/cryotensor.socket": "-rw-r--r--", "/lib/systemd/system/cryotensor.service": "-rw-r--r--",
            "/etc/nginx/snippets/cryotensor-app.conf": "-rw-r--r--",
            "/etc/nginx/sites-available/cryotensor.conf": "-rw-r--r--",
            "/usr/share/doc/cryotensor/copyright": "-rw-r--r--", "/usr/share/doc/cryotensor/changelog.gz": "-rw-r--r--",
            "/usr/share/man/man1/cryotensor.1.gz": "-rw-r--r--"
        ]
        for (path, mode) in expected {
            #expect(entries[path] == mode, "\(path): \(entries[path] ?? "missing") in the package, expected \(mode)")
        }
        #expect(!entries.keys.contains { $0.hasPrefix("/etc/nginx/sites-enabled") }, "the example site must not be enabled")
        #expect(listing.stdout.contains("root/root"), "files should belong to root")

        let conffiles = try runCommand("/usr/bin/dpkg-deb", ["--info", deb, "conffiles"]).stdout
        for path in ["/etc/cryotensor/env", "/etc/nginx/snippets/cryotensor-app.conf", "/etc/nginx/sites-available/cryotensor.conf"] {
            #expect(conffiles.contains(path), "\(path) is not a conffile:\n\(conffiles)")
        }
        let depends = try runCommand("/usr/bin/dpkg-deb", ["--field", deb, "Depends"]).stdout
        for library in ["libc6", "libfcgi0ldbl", "libsqlite3-0", "libssl3", "libsodium23", "libcurl4", "libhiredis0.14", "adduser"] {
            #expect(depends.contains(library), "Depends lacks \(library): \(depends)")
        }
        // The UI's libraries are served by the nginx snippet from Debian's paths (docs/ui.md).
        for library in ["libjs-markdown-it", "libjs-highlight.js", "node-dompurify"] {
            #expect(depends.contains(library), "Depends lacks \(library): \(depends)")
        }
    }

    // MARK: install

    func install(_ deb: String) throws {
        var environment = ProcessInfo.processInfo.environment
        environment["DEBIAN_FRONTEND"] = "noninteractive"
        let apt = try runCommand("/usr/bin/apt-get", ["install", "-y", "--no-install-recommends", deb], environment: environment)
        if apt.status != 0 {
            // apt needs no network for a local .deb whose Depends are installed; dpkg is the fallback.
            let dpkg = try runCommand("/usr/bin/dpkg", ["-i", deb], environment: environment)
            try #require(dpkg.status == 0, "apt-get install failed:\n\(apt.stderr)\ndpkg -i failed:\n\(dpkg.stdout)\(dpkg.stderr)")
        }
    }

    func purge() throws {
        guard
            (try runCommand("/usr/bin/dpkg-query", ["-W", "-f=${Status}", "cryotensor"])).stdout.contains("installed")
                || FileManager.default.fileExists(atPath: "/var/lib/dpkg/info/cryotensor.list")
        else { return }
        var environment = ProcessInfo.processInfo.environment
        environment["DEBIAN_FRONTEND"] = "noninteractive"
        let apt = try runCommand("/usr/bin/apt-get", ["purge", "-y", "cryotensor"], environment: environment)
        if apt.status != 0 {
            let dpkg = try runCommand("/usr/bin/dpkg", ["-P", "cryotensor"], environment: environment)
            #expect(dpkg.status == 0, "purge failed:\n\(apt.stderr)\n\(dpkg.stderr)")
        }
    }

    struct FileInfo: Equatable, CustomStringConvertible {
        let mode: mode_t
        let owner: String
        let group: String
        var description: String { String(format: "%04o %@:%@", mode, owner, group) }
    }

    func info(_ path: String) throws -> FileInfo {
        var st = stat()
        try #require(stat(path, &st) == 0, "\(path) does not exist")
        let owner = getpwuid(st.st_uid).map { String(cString: $0.pointee.pw_name) } ?? "\(st.st_uid)"
        let group = getgrgid(st.st_gid).map { String(cString: $0.pointee.gr_name) } ?? "\(st.st_gid)"
        return FileInfo(mode: st.st_mode & 0o7777, owner: owner, group: group)
    }

    func checkInstalledFiles() throws {
        let user = try runCommand("/usr/bin/getent", ["passwd", "cryotensor"]).stdout
        let fields = user.trimmingCharacters(in: .whitespacesAndNewlines).split(separator: ":", omittingEmptySubsequences: false)
        try #require(fields.count == 7, "postinst did not create the user cryotensor")
        #expect(fields[5] == "/var/lib/cryotensor", "home of cryotensor: \(fields[5])")
        #expect(fields[6].hasSuffix("nologin") || fields[6] == "/bin/false", "cryotensor should have no login shell: \(fields[6])")
        if let uid = Int(fields[2]) { #expect(uid < 1000, "cryotensor should be a system user, uid \(uid)") }

        #expect(try info("/var/lib/cryotensor") == FileInfo(mode: 0o700, owner: "cryotensor", group: "cryotensor"))
        #expect(try info("/etc/cryotensor/env") == FileInfo(mode: 0o640, owner: "root", group: "cryotensor"))

        let ldd = try runCommand("/usr/bin/ldd", ["/usr/bin/cryotensor"])
        #expect(ldd.status == 0 && !ldd.stdout.contains("/opt/swift") && !ldd.stdout.contains("not found"), "ldd:\n\(ldd.stdout)")
        let dynamic = try runCommand("/usr/bin/readelf", ["-d", "/usr/bin/cryotensor"]).stdout
        #expect(!dynamic.contains("RUNPATH") && !dynamic.contains("RPATH"), "the binary keeps a library search path:\n\(dynamic)")

        // Every setting, commented out; no comment after a value (systemd would keep it in the value).
        let env = try String(contentsOfFile: "/etc/cryotensor/env", encoding: .utf8)
        let docs = try String(contentsOf: projectRoot.appendingPathComponent("docs/configuration.md"), encoding: .utf8)
        // Rows of the settings table: | `NAME` | default | secret | meaning |
        let variables = docs.split(separator: "\n").compactMap { line -> String? in
            guard line.hasPrefix("| `"), let name = line.dropFirst(3).split(separator: "`").first,
                name.allSatisfy({ $0.isUppercase || $0.isNumber || $0 == "_" })
            else { return nil }
            return String(name)
        }
        #expect(variables.count > 20, "docs/configuration.md's table was not found")
        for variable in variables {
            #expect(env.contains("\n#\(variable)=") || env.contains("\n\(variable)="), "/etc/cryotensor/env lacks \(variable)")
        }
        for line in env.split(separator: "\n") where !line.hasPrefix("#") {
            #expect(!line.contains("#"), "a comment after a value in /etc/cryotensor/env: \(line)")
            #expect(line.contains("="), "not KEY=VALUE in /etc/cryotensor/env: \(line)")
        }
    }

    func checkUnits() throws {
        let verify = try runCommand("/usr/bin/systemd-analyze", ["verify"] + Self.installedUnits)
        #expect(verify.status == 0 && verify.stderr.isEmpty, "systemd-analyze verify:\n\(verify.stdout)\(verify.stderr)")
        let security = try runCommand(
            "/usr/bin/systemd-analyze",
            [
                "security", "--offline=true", "--no-pager",
                "/lib/systemd/system/cryotensor.service"
            ])
        let level = security.stdout.split(separator: "\n").first { $0.contains("Overall exposure level") }
            .flatMap { $0.split(separator: ":").last?.split(separator: " ").first }.flatMap { Double($0) }
        let score = try #require(level, "no exposure level in:\n\(security.stdout)\(security.stderr)")
        #expect(score <= 2.0, "systemd-analyze security scores cryotensor.service \(score):\n\(security.stdout)")

        let service = try String(contentsOfFile: "/lib/systemd/system/cryotensor.service", encoding: .utf8)
        for line in ["StandardInput=socket", "SystemCallErrorNumber=EPERM", "User=cryotensor", "EnvironmentFile=/etc/cryotensor/env"] {
            #expect(service.contains("\n\(line)\n"), "cryotensor.service lacks \(line)")
        }
        let execStart = service.split(separator: "\n").first { $0.hasPrefix("ExecStart=") } ?? ""
        #expect(
            execStart == "ExecStart=/usr/bin/cryotensor serve --threads 8",
            "the service must serve the socket on fd 0, without --listen: \(execStart)")
    }

    // MARK: serve as the units would

    /// The installed binary on the socket at fd 0 (spawn-fcgi playing cryotensor.socket: group www-data,
    /// 0660; spawn-fcgi refuses -U root, so the test hands the socket to root itself), as user
    /// cryotensor with the env file's settings, under strace answering EPERM for what
    /// SystemCallFilter=~@privileged @resources removes; nginx with the packaged files in front.
    func checkServesThroughNginx() throws {
        let dir = URL(fileURLWithPath: NSTemporaryDirectory()).appendingPathComponent("ct-pkg-\(UUID().uuidString.prefix(8))")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        // The trace is written by strace, which runs as cryotensor.
        let traceDir = dir.appendingPathComponent("trace")
        try FileManager.default.createDirectory(at: traceDir, withIntermediateDirectories: true)
        try #require(runCommand("/bin/chown", ["cryotensor:cryotensor", traceDir.path]).status == 0)
        let trace = traceDir.appendingPathComponent("strace.txt").path

        // DirectoryMode=0755 of cryotensor.socket.
        try? FileManager.default.removeItem(atPath: "/run/cryotensor")
        try FileManager.default.createDirectory(
            atPath: "/run/cryotensor", withIntermediateDirectories: true,
            attributes: [.posixPermissions: 0o755])
        defer { try? FileManager.default.removeItem(atPath: "/run/cryotensor") }

        let filtered = try syscalls(in: "@privileged") + syscalls(in: "@resources")
        // strace knows only this architecture's calls.
        let injectable = filtered.filter { name in
            (try? runCommand(
                "/usr/bin/strace",
                [
                    "-qq", "-e", "inject=\(name):error=EPERM",
                    "/bin/true"
                ]))?.status == 0
        }
        var environment = ["PATH": "/usr/sbin:/usr/bin:/sbin:/bin"]
        for line in try String(contentsOfFile: "/etc/cryotensor/env", encoding: .utf8).split(separator: "\n") where !line.hasPrefix("#") {
            guard let eq = line.firstIndex(of: "=") else { continue }
            environment[String(line[..<eq])] = String(line[line.index(after: eq)...])
        }
        // A provider for the streamed chat below (the env file's allow-list is the only change).
        let mock = try MockUpstream(["--delay", "0.05", "--chunks", "4"])
        environment["OPENAI_ALLOWED_API_BASE_URLS"] = mock.baseURL
        // systemd's default soft limit of open files, so the responder raises it as it would there.
        let spawn =
            "ulimit -S -n 1024 && exec /usr/bin/spawn-fcgi -s \(Self.socketPath) -M 0660 -G www-data "
            + "-u cryotensor -g cryotensor -d /var/lib/cryotensor -n -- /usr/bin/strace -f -qq -o \(trace) "
            + "-e inject=\(injectable.sorted().joined(separator: ",")):error=EPERM /usr/bin/cryotensor serve --threads 8"
        let responder = try Child("/bin/sh", ["-c", spawn], environment: environment)
        var responderStopped = false
        defer {
            // strace killed alone would leave the responder running, detached.
            if !responderStopped {
                if let pid = responderPID(trace: trace) { kill(pid, SIGKILL) }
                responder.signal(SIGKILL)
                _ = responder.readAll()
                responder.wait()
            }
        }

        for _ in 0..<100 where !FileManager.default.fileExists(atPath: Self.socketPath) { usleep(50_000) }
        if !FileManager.default.fileExists(atPath: Self.socketPath) {
            responder.signal(SIGKILL)
            let (out, err) = responder.readAll()
            responder.wait()
            responderStopped = true
            Issue.record("spawn-fcgi made no socket: \(String(decoding: out + err, as: UTF8.self))\n\(spawn)")
            return
        }
        #expect(chown(Self.socketPath, 0, gid_t.max) == 0, "cannot hand \(Self.socketPath) to root")

        let (nginx, port) = try startNginx(dir: dir)
        defer { nginx.signal(SIGTERM); _ = nginx.readAll(); nginx.wait() }

        let url = "https://chat.example.org:\(port)"
        let curlBase = [
            "-sk", "--max-time", "5", "--resolve", "chat.example.org:\(port):127.0.0.1", "-o", "/dev/stderr",
            "-w", "%{http_code}"
        ]
        var health = CommandResult(status: -1, stdout: "", stderr: "")
        for _ in 0..<60 {
            health = try runCommand("/usr/bin/curl", curlBase + ["\(url)/api/v1/health"])
            if health.stdout == "200" { break }
            usleep(250_000)
        }
        #expect(health.stdout == "200" && health.stderr.contains("\"ok\""), "health through nginx: \(health.stdout) \(health.stderr)")
        let page = try runCommand("/usr/bin/curl", curlBase + ["-D", "/dev/stdout", "\(url)/"])
        #expect(
            page.stdout.contains("200") && page.stdout.lowercased().contains("content-security-policy"),
            "the packaged UI through nginx: \(page.stdout)")
        for vendor in ["markdown-it.js", "highlight.js", "purify.js"] {
            let file = try runCommand("/usr/bin/curl", curlBase + ["-D", "/dev/stdout", "\(url)/vendor/\(vendor)"])
            #expect(
                file.stdout.hasSuffix("200") && file.stdout.lowercased().contains("content-security-policy"),
                "the UI's \(vendor) from Debian's path through the packaged nginx: \(file.stdout)")
        }
        // A streamed chat through the packaged nginx, by an admin made as the docs say: as the service
        // user, with the service's own env file. (Its stream threads run under the filter too.)
        let password = "package-admin-password-1"
        let add = try runCommand(
            "/usr/sbin/runuser",
            [
                "-u", "cryotensor", "--", "/usr/bin/cryotensor", "user", "add", "owner@example.org",
                "--admin", "--env-file", "/etc/cryotensor/env"
            ], stdin: password + "\n")
        #expect(add.status == 0, "user add: \(add.stderr)")
        let jar = dir.appendingPathComponent("jar").path
        let session = [
            "-sk", "--max-time", "10", "--resolve", "chat.example.org:\(port):127.0.0.1", "-b", jar, "-c", jar,
            "-H", "Content-Type: application/json"
        ]
        let login = try runCommand(
            "/usr/bin/curl",
            session + [
                "-d", #"{"email":"owner@example.org","password":"\#(password)"}"#,
                "\(url)/api/v1/auth/login"
            ])
        let csrf = try #require((try? JSON.parse(login.stdout))?["csrf_token"]?.stringValue, "login: \(login.stdout)")
        let connection = try runCommand(
            "/usr/bin/curl",
            session + [
                "-H", "X-CSRF-Token: \(csrf)", "-d",
                #"{"name":"m","kind":"openai","base_url":"\#(mock.baseURL)","api_key":"sk-package-test-0123456789"}"#,
                "\(url)/api/v1/admin/connections"
            ])
        #expect(connection.stdout.contains("fingerprint"), "connection: \(connection.stdout)")
        let chat = try runCommand("/usr/bin/curl", session + ["-H", "X-CSRF-Token: \(csrf)", "-d", "{}", "\(url)/api/v1/chats"])
        let chatID = try #require((try? JSON.parse(chat.stdout))?["id"]?.intValue, "chat: \(chat.stdout)")
        let stream = try runCommand(
            "/usr/bin/curl",
            session + [
                "-N", "-H", "X-CSRF-Token: \(csrf)", "-d",
                #"{"content":"hello","model":"mock-gpt-4o"}"#, "\(url)/api/v1/chats/\(chatID)/messages"
            ])
        #expect(
            stream.stdout.components(separatedBy: "\"type\":\"delta\"").count == 5 && stream.stdout.contains("\"type\":\"done\""),
            "streamed chat through the packaged nginx: \(stream.stdout)")

        // Stop the responder as systemd would (SIGTERM), then read what it logged and called.
        let pid = try #require(responderPID(trace: trace), "no execve of /usr/bin/cryotensor in the trace")
        kill(pid, SIGTERM)
        let (out, err) = responder.readAll()
        let status = responder.wait()
        responderStopped = true
        let log = String(decoding: out + err, as: UTF8.self)
        #expect(status == 0, "the responder exited \(status):\n\(log)")
        #expect(log.contains("\"event\":\"serving\"") && log.contains("\"listen\":\"fd 0\""), "responder log:\n\(log)")

        try checkSyscalls(trace: String(contentsOfFile: trace, encoding: .utf8), filtered: Set(filtered))
    }

    /// The responder's pid: strace's first line for it is its execve.
    func responderPID(trace: String) -> pid_t? {
        let text = (try? String(contentsOfFile: trace, encoding: .utf8)) ?? ""
        return text.split(separator: "\n").first { $0.contains("execve(\"/usr/bin/cryotensor\"") }
            .flatMap { $0.split(separator: " ").first }.flatMap { pid_t($0) }
    }

    /// Syscalls the responder made after its execve: all in @system-service, and of those that
    /// @privileged and @resources remove only setpriority (nice +5 on stream threads, and
    /// libdispatch's thread priorities), whose failure is ignored.
    func checkSyscalls(trace: String, filtered: Set<String>) throws {
        var used = Set<String>()
        let lines = trace.split(separator: "\n")
        // From the responder's execve on (what spawn-fcgi did before it is not the responder's).
        let start = lines.firstIndex { $0.contains("execve(") && $0.contains("cryotensor") }.map { $0 + 1 } ?? 0
        for line in lines[start...] {
            // "PID name(...)" once there are several threads, "name(...)" before that.
            var call = Substring(line)
            if let first = line.split(separator: " ", maxSplits: 1).first, first.allSatisfy(\.isNumber) {
                call = line.dropFirst(first.count).drop { $0 == " " }
            }
            guard let paren = call.firstIndex(of: "(") else { continue }
            let name = call[..<paren]
            if !name.isEmpty, name.allSatisfy({ $0.isLowercase || $0.isNumber || $0 == "_" }) { used.insert(String(name)) }
        }
        #expect(used.count > 20, "too few syscalls traced: \(used.sorted())")
        let service = Set(try syscalls(in: "@system-service"))
        #expect(used.subtracting(service).isEmpty, "outside @system-service: \(used.subtracting(service).sorted())")
        let denied = used.intersection(filtered)
        #expect(denied.subtracting(["setpriority"]).isEmpty, "removed by ~@privileged @resources: \(denied.sorted())")
        // The filter really bit, and the responder carried on: it answered and stopped cleanly.
        #expect(
            trace.contains("setpriority(") && trace.contains("EPERM (Operation not permitted) (INJECTED)"),
            "no setpriority failed with EPERM in the trace")
    }

    /// The syscalls of a systemd group, nested groups expanded.
    func syscalls(in group: String) throws -> [String] {
        let listing = try runCommand("/usr/bin/systemd-analyze", ["syscall-filter", "--no-pager", group])
        try #require(listing.status == 0, "systemd-analyze syscall-filter \(group): \(listing.stderr)")
        var names: [String] = []
        for line in listing.stdout.split(separator: "\n") where line.hasPrefix(" ") {
            let name = line.trimmingCharacters(in: .whitespaces)
            if name.hasPrefix("@") {
                names += try syscalls(in: name)
            } else if !name.isEmpty, !name.hasPrefix("#") {
                names.append(name)
            }
        }
        return names
    }

    /// nginx with Debian's nginx.conf (workers as www-data), the packaged site on loopback ports and
    /// a throwaway certificate; the installed snippet is included unchanged.
    func startNginx(dir: URL) throws -> (Child, Int) {
        let logDir = dir.appendingPathComponent("log")
        try FileManager.default.createDirectory(at: logDir, withIntermediateDirectories: true)
        let cert = dir.appendingPathComponent("fullchain.pem").path, key = dir.appendingPathComponent("privkey.pem").path
        let openssl = try runCommand(
            "/usr/bin/openssl",
            [
                "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", key,
                "-out", cert, "-days", "1", "-subj", "/CN=chat.example.org"
            ])
        try #require(openssl.status == 0, "openssl could not make a test certificate: \(openssl.stderr)")
        let port = freePort(), redirectPort = freePort()
        let site = try String(contentsOfFile: "/etc/nginx/sites-available/cryotensor.conf", encoding: .utf8)
        #expect(site.contains("include /etc/nginx/snippets/cryotensor-app.conf;"), "the packaged site does not include the snippet")
        let rewritten =
            site
            .replacingOccurrences(of: "/etc/letsencrypt/live/chat.example.org/fullchain.pem", with: cert)
            .replacingOccurrences(of: "/etc/letsencrypt/live/chat.example.org/privkey.pem", with: key)
            .replacingOccurrences(of: "/var/log/nginx/", with: logDir.path + "/")
            .replacingOccurrences(of: "listen 443 ssl http2;", with: "listen 127.0.0.1:\(port) ssl http2;")
            .replacingOccurrences(of: "listen [::]:443 ssl http2;", with: "")
            .replacingOccurrences(of: "listen 80;", with: "listen 127.0.0.1:\(redirectPort);")
            .replacingOccurrences(of: "listen [::]:80;", with: "")
        for outside in ["/etc/letsencrypt", "/var/log/nginx", "listen 443", "listen 80"] {
            #expect(!rewritten.contains(outside), "the packaged site uses \(outside) in a way this test does not rewrite")
        }
        let sitePath = dir.appendingPathComponent("cryotensor.conf").path
        try rewritten.write(toFile: sitePath, atomically: true, encoding: .utf8)
        let mainPath = dir.appendingPathComponent("nginx.conf").path
        let main = try NginxConfigTests().mainConfig(including: sitePath, dir: dir, logDir: logDir)
        try main.write(toFile: mainPath, atomically: true, encoding: .utf8)

        let errorLog = logDir.appendingPathComponent("error.log").path
        let check = try runCommand("/usr/sbin/nginx", ["-t", "-e", errorLog, "-c", mainPath])
        try #require(check.status == 0, "nginx -t failed on the packaged site and snippet:\n\(check.stderr)")
        let nginx = try Child("/usr/sbin/nginx", ["-e", errorLog, "-c", mainPath, "-g", "daemon off;"])
        return (nginx, port)
    }
}

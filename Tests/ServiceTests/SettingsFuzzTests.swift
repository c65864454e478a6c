import Support
import TestSupport
import Testing

@testable import Service

/// Seeded fuzzing of the settings parsers: the environment at start-up and the admin API's patches.
@Suite struct SettingsFuzzTests {
    static let extremes = [
        "1e300", "-1e300", "1e-300", "-0", "0", "-0.0", "nan", "NaN", "inf", "-inf", "infinity", "9223372036854775807",
        "9223372036854775808", "-9223372036854775809", "18446744073709551616", "0x10", "1_000", "1,5", "1.5", " 7 ", "+3", "3.",
        ".5", "5e", "10241", "10240", "720", "721", "\0", "1\0", "a\nb", "\n", "\r\n", "true", "TRUE", "yes", "on", "2",
        "https://example.com/v1", "https://a..", "http://[::1]:80/", "redis://127.0.0.1:6379/0", "redis://h:99999",
        "unix:///tmp/r.sock",
        "unix://", "10.0.0.0/8", "10.0.0.1/33", "fd00::/8", "::/0", "10.0.0.1\0/8", "host:8080", "a/b", "user@host",
        String(repeating: "x", count: 200), String(repeating: "x", count: 201), String(repeating: "k", count: 20_000),
        String(repeating: ",", count: 1_000), "é", "\u{2028}", "😀"
    ]

    static func value(_ rng: inout SeededGenerator) -> String {
        if rng.chance(2) { return rng.pick(extremes) }
        var s = ""
        for _ in 0..<rng.int(0...6) {
            s += rng.chance(2) ? rng.pick(extremes) : String(decoding: rng.bytes(rng.int(1...4)), as: UTF8.self)
            if rng.chance(3) { s += rng.pick([",", ";", " ", "/", ":"]) }
        }
        return s
    }

    /// Numbers a loaded configuration holds are the ones its table allows, whatever the input was.
    static func checkRanges(_ config: Config) {
        for (name, number) in [
            ("REMOTE_FILE_MAX_SIZE_MB", config.remoteFileMaxMB), ("BASE64_MAX_SIZE_MB", config.base64MaxMB),
            ("VIDEO_MAX_SIZE_MB", config.videoMaxMB),
            ("REMOTE_DOWNLOAD_INITIAL_RETRY_DELAY_SECONDS", config.remoteDownloadInitialRetryDelaySeconds),
            ("REMOTE_DOWNLOAD_MAX_RETRY_TIME_SECONDS", config.remoteDownloadMaxRetryTimeSeconds)
        ] {
            guard case .positiveNumber(let maxValue)? = SettingsTable.spec(name)?.kind else { Issue.record("\(name)"); continue }
            #expect(number.isFinite && number > 0 && number <= maxValue, "\(name) = \(number)")
        }
        for (name, integer) in [
            ("REMOTE_DOWNLOAD_MAX_RETRIES", config.remoteDownloadMaxRetries),
            ("CRYOTENSOR_SESSION_HOURS", config.sessionHours),
            ("CRYOTENSOR_LOGIN_MAX_FAILURES", config.loginMaxFailures),
            ("CRYOTENSOR_LOGIN_MAX_FAILURES_PER_CLIENT", config.loginMaxFailuresPerClient)
        ] {
            guard case .integer(let range)? = SettingsTable.spec(name)?.kind else { Issue.record("\(name)"); continue }
            #expect(range.contains(integer), "\(name) = \(integer)")
        }
        #expect(config.maxBodyBytes > 0 && config.maxBodyBytes <= 1024 << 20)
        #expect(!config.databasePath.contains("\0") && config.defaultModel.count <= 200)
    }

    @Test func everyVariableLoadsOrNamesItself() {
        var rng = SeededGenerator(state: 0x5E77)
        for spec in SettingsTable.all {
            for _ in 0..<800 {
                let raw = Self.value(&rng)
                var environment = [spec.name: raw]
                // The encryption switch needs its key; give it one half of the time so both paths run.
                if spec.name == "ENABLE_LOCAL_ENCRYPTION", rng.chance(2) {
                    environment["CONFIG_ENCRYPTION_KEY"] = String(repeating: "k", count: 32)
                }
                do {
                    Self.checkRanges(try Config.load(environment: environment))
                } catch {
                    #expect(error.variable == spec.name, "\(spec.name)=\(raw.prefix(80).debugDescription) blamed \(error.variable)")
                }
            }
        }
    }

    /// Found by `everyVariableLoadsOrNamesItself`: 1e-300 MB passed as positive and became a 0-byte body limit.
    @Test(arguments: ["1e-300", "5e-324", "0.0000001"])
    func aBodyLimitBelowOneByteIsRefused(_ raw: String) {
        #expect(throws: ConfigError.self) { try Config.load(environment: ["CRYOTENSOR_MAX_BODY_MB": raw]) }
        // The smallest accepted size is 0.001 MB (SettingSpec.smallestNumber).
        #expect(((try? Config.load(environment: ["CRYOTENSOR_MAX_BODY_MB": "0.001"]))?.maxBodyBytes ?? 0) == 1048)
    }

    @Test func manyVariablesAtOnceBlameOneOfThem() {
        var rng = SeededGenerator(state: 0xA11)
        for _ in 0..<1_500 {
            var environment: [String: String] = [:]
            for _ in 0..<rng.int(1...6) { environment[rng.pick(SettingsTable.all).name] = Self.value(&rng) }
            do {
                Self.checkRanges(try Config.load(environment: environment))
            } catch {
                #expect(environment[error.variable] != nil || error.variable == "ENABLE_LOCAL_ENCRYPTION", "blamed \(error.variable)")
            }
        }
    }

    static func json(_ rng: inout SeededGenerator, depth: Int = 0) -> JSON {
        let numbers: [Double] = [
            1e300, -1e300, 1.5, 0.5, -0.0, 0, 1, 3, 20, 21, -1, 600, 600.5, 3600, 10240, 10240.000001, 1e-300,
            9.3e18, -9.3e18, .greatestFiniteMagnitude, .leastNonzeroMagnitude, 9_007_199_254_740_992
        ]
        switch rng.int(0...(depth > 1 ? 4 : 6)) {
        case 0: return .null
        case 1: return .bool(rng.chance(2))
        case 2: return .number(rng.chance(3) ? Double(bitPattern: rng.next()).clamped : rng.pick(numbers))
        case 3: return .number(Double(rng.int(-5...11_000)) + (rng.chance(2) ? 0 : 0.25))
        case 4: return .string(rng.pick(extremes))
        case 5:
            // Mostly short arrays; sometimes a huge one.
            let count = rng.chance(200) ? 5_000 : rng.int(0...4)
            return .array((0..<count).map { _ in rng.chance(4) ? json(&rng, depth: depth + 1) : .string(rng.pick(extremes)) })
        default: return .object(["a": json(&rng, depth: depth + 1)])
        }
    }

    @Test func runtimePatchesNeverTrapAndRefuseOutOfRangeValues() {
        var rng = SeededGenerator(state: 0x7A7C4)
        for name in RuntimeSettings.editable {
            guard let spec = SettingsTable.spec(name) else { Issue.record("\(name) has no spec"); continue }
            let key = RuntimeSettings.apiName(name)
            for _ in 0..<1_500 {
                let value = Self.json(&rng)
                let (merged, problems) = RuntimeSettings.validate([key: value], base: [:], overrides: [:], at: "")
                for problem in problems {
                    #expect(problem.code == .invalidField && problem.path == key, "\(key)=\(value.serialized().prefix(80))")
                }
                var outOfRange = false
                switch (spec.kind, value) {
                case (.positiveNumber(let maxValue), .number(let d)): outOfRange = !(d > 0 && d <= maxValue)
                case (.integer(let range), .number(let d)): outOfRange = Int(exactly: d).map { !range.contains($0) } ?? true
                case (.positiveNumber, _), (.integer, _): outOfRange = true  // wrong type
                default: break
                }
                if outOfRange { #expect(!problems.isEmpty, "\(key)=\(value.serialized().prefix(80)) was accepted") }
                if problems.isEmpty {
                    // What was accepted loads, and a number keeps its value.
                    guard let config = try? Config.load(environment: merged) else { Issue.record("\(merged) does not load"); continue }
                    if case .number(let d) = value, case .object(let shown) = RuntimeSettings.json(config) {
                        #expect(shown[key] == .number(d), "\(key)=\(d) became \(shown[key].map { $0.serialized() } ?? "nothing")")
                    }
                }
            }
        }
    }

    @Test func unknownAndSecretKeysAreRefused() {
        var rng = SeededGenerator(state: 0x5EC)
        let keys = [
            "config_encryption_key", "webui_secret_key", "cryotensor_db", "", "ENABLE_SSRF_PROTECTION",
            "enable_ssrf_protection ", "é"
        ]
        for _ in 0..<5_000 {
            let key = rng.chance(2) ? rng.pick(keys) : String(decoding: rng.bytes(rng.int(0...8)), as: UTF8.self)
            guard RuntimeSettings.variable(key) == nil else { continue }
            let (_, problems) = RuntimeSettings.validate([key: Self.json(&rng)], base: [:], overrides: [:], at: "settings")
            #expect(problems.map(\.code) == [.invalidField] && problems.first?.path == "settings.\(key)")
        }
    }
}

extension Double {
    /// A random bit pattern as a JSON-representable number (no NaN or infinity).
    var clamped: Double { isFinite ? self : 0 }
}

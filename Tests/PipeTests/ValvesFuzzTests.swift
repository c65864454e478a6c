import Support
import TestSupport
import Testing

@testable import Pipe

/// Seeded fuzzing of `Valves.validate`: admins send any JSON; what is stored must read back the same.
@Suite struct ValvesFuzzTests {
    static let strings = [
        "", "a", "true", "false", "id", "email", "conversation", "Conversation", "next_reply", " disabled",
        "https://openrouter.ai/api/v1/", "HTTPS://OpenRouter.ai:443/api/v1", "https://a..", "https://nk[::1]:443",
        "http://user@host", "ftp://x", "session_logs", "/var/log/x", "a\0b", "\0", "é", "😀", "\u{301}",
        "e\u{301}", "12345678", "1234567", "1234567890123456", String(repeating: "s", count: 4096),
        String(repeating: "s", count: 4097), String(repeating: "p", count: 1024), String(repeating: "p", count: 1025)
    ]
    static let numbers: [Double] = [
        1e300, -1e300, 1.5, -0.0, 0, 1, 5, 60, 119, 120, 121, 3600, 3601, 3650, 365, 366, 67_108_864,
        67_108_865, 9e15, 9.1e15, -9e15, .greatestFiniteMagnitude, .leastNonzeroMagnitude, 0.999_999
    ]

    static func json(_ rng: inout SeededGenerator, depth: Int = 0) -> JSON {
        switch rng.int(0...(depth > 1 ? 5 : 7)) {
        case 0: return .null
        case 1: return .bool(rng.chance(2))
        case 2: return .number(rng.pick(numbers))
        case 3: return .number(Double(rng.int(-10...70_000_000)) + (rng.chance(3) ? 0.5 : 0))
        case 4: return .string(rng.pick(strings))
        case 5:
            var s = String.UnicodeScalarView()
            for _ in 0..<rng.int(0...24) { if let u = Unicode.Scalar(UInt32(rng.int(0...0x2FF))) { s.append(u) } }
            return .string(String(s))
        case 6: return .array((0..<rng.int(0...3)).map { _ in json(&rng, depth: depth + 1) })
        default: return .object(["value": json(&rng, depth: depth + 1)])
        }
    }

    /// The JSON an admin would send to set the stored string again.
    static func input(for stored: String, _ kind: ValveSpec.Kind) -> JSON {
        switch kind {
        case .bool: return .bool(stored == "true")
        case .integer: return .number(Double(stored) ?? .nan)
        case .idList: return (try? JSON.parse(stored)) ?? .null
        default: return .string(stored)
        }
    }

    @Test func randomValuesNeverTrapAndAcceptedOnesAreStable() {
        var rng = SeededGenerator(state: 0x7A1E)
        var accepted = 0
        for spec in Valves.all {
            for _ in 0..<5_000 {
                let value = Self.json(&rng)
                switch Valves.validate(spec, value) {
                case .success(let stored):
                    accepted += 1
                    let again = Valves.validate(spec, Self.input(for: stored, spec.kind))
                    #expect(again == .success(stored), "\(spec.name): \(value.serialized().prefix(60)) stored \(stored.prefix(60))")
                    switch spec.kind {
                    case .integer(let range): #expect(Int(stored).map(range.contains) == true)
                    case .oneOf(let options): #expect(options.contains(stored))
                    case .bool: #expect(stored == "true" || stored == "false")
                    case .line(let max): #expect(stored.count <= max && !stored.contains("\0"))
                    case .baseURL: #expect(BaseURL.normalize(stored) == .success(stored))
                    case .secret(let min, let max): #expect(stored.count >= min && stored.count <= max)
                    case .idList(let max): #expect((try? JSON.parse(stored))?.arrayValue.map { $0.count <= max } == true)
                    default: Issue.record("\(spec.name): a valve kind this test does not know")
                    }
                case .failure(let problem):
                    #expect(problem.name == spec.name && problem.code == "invalid_field")
                }
            }
        }
        #expect(accepted > 8_000)
    }

    @Test func defaultsAreValidValues() {
        for spec in Valves.all where !spec.defaultValue.isEmpty {
            #expect((try? Valves.validate(spec, Self.input(for: spec.defaultValue, spec.kind)).get()) == spec.defaultValue, "\(spec.name)")
        }
    }
}

extension Result where Success == String, Failure == ValveProblem {
    /// Compares outcomes by stored string or problem code (ValveProblem is not Equatable).
    static func == (lhs: Self, rhs: Self) -> Bool {
        switch (lhs, rhs) {
        case (.success(let a), .success(let b)): a == b
        case (.failure(let a), .failure(let b)): a.code == b.code && a.name == b.name
        default: false
        }
    }
}

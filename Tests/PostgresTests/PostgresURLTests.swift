import TestSupport
import Testing

@testable import Postgres

@Suite struct PostgresURLTests {
    @Test func libpqReadsTheFormsWeDocument() throws {
        let url = try PostgresURL.parse("postgresql://ct:s3cr%40t@db.internal:5433/cryotensor?sslmode=verify-full").get()
        #expect(url.hasPassword && url.database == "cryotensor" && url.host == "db.internal")
        #expect(try PostgresURL.parse("postgresql://ct@/cryotensor?host=/run/postgresql").get().host == "/run/postgresql")
        #expect(try PostgresURL.parse("postgres://localhost/db").get().hasPassword == false)
    }

    @Test func badURLsAreRefusedWithAReason() {
        let cases: [(String, PostgresURL.Problem?)] = [
            ("mysql://h/db", .notPostgreSQL), ("http://h/db", .notPostgreSQL), ("postgresql://h/db\n", .controlCharacter),
            ("postgresql://h/db?sslmode=disable", .weakSSLMode("disable")), ("postgresql://h/db?sslmode=allow", .weakSSLMode("allow")),
            ("postgresql://h/db?nonsense=1", nil), ("postgresql://h:notaport/db", .badPort), ("postgresql://h:70000/db", .badPort)
        ]
        for (raw, expected) in cases {
            guard case .failure(let problem) = PostgresURL.parse(raw) else { Issue.record("accepted \(raw)"); continue }
            if let expected { #expect(problem == expected, "\(raw): \(problem)") }
        }
    }

    @Test func thePasswordNeverPrints() throws {
        let raw = "postgresql://ops:Hunter2-secret@db:5432/ct?sslmode=require"
        let url = try PostgresURL.parse(raw).get()
        #expect(url.masked == "postgresql://ops:***@db:5432/ct?sslmode=require")
        #expect(!"\(url)".contains("Hunter2") && !String(describing: url).contains("Hunter2"))
        #expect(PostgresURL.masked("postgresql://db/ct?user=ops&password=Hunter2-secret") == "postgresql://db/ct?user=ops&password=***")
        // A refusal's reason never repeats the password either.
        if case .failure(let problem) = PostgresURL.parse("postgresql://ops:Hunter2-secret@db:notaport/ct") {
            #expect(!problem.description.contains("Hunter2"))
        }
        // libpq quotes a token it cannot decode, and that token may be the password itself.
        for raw in ["postgresql://ops:Hunter2%zz@db/ct", "postgresql://db/ct?user=ops&password=Hunter2%zz"] {
            guard case .failure(let problem) = PostgresURL.parse(raw) else { Issue.record("accepted \(raw)"); continue }
            #expect(!problem.description.contains("Hunter2"), "\(problem)")
        }
    }

    /// Seeded fuzz: any string is parsed or refused without a trap, and a planted password is
    /// never in the masked form.
    @Test func randomURLsNeverTrapAndMaskingHolds() {
        var rng = SeededGenerator(state: 0x9051)
        let pieces = [
            "postgresql://", "postgres://", "u", ":", "@", "/", "?", "&", "=", "sslmode", "require", "host", "%40", "%", "[",
            "]", "::1", "5432", "db", "password", "\u{0}", "é", " "
        ]
        for _ in 0..<20_000 {
            var raw = ""
            for _ in 0..<rng.int(1...12) { raw += rng.pick(pieces) }
            _ = PostgresURL.parse(raw)
            let planted = "postgresql://user:PW\(rng.int(0...999_999))x@" + raw
            #expect(!PostgresURL.masked(planted).contains("PW"), "\(planted)")
        }
    }

    /// A password the masker cannot find (libpq reads `pa?ss` as the whole password, and decodes
    /// `passw%6Frd=` to `password=`) is refused, never shown; a URL that parses is always masked.
    @Test func aPasswordTheMaskerCannotFindIsRefused() throws {
        for raw in ["postgresql://app:pa?ss@db.example/cryo", "postgresql://app@db.example/cryo?passw%6Frd=s3cret"] {
            guard case .failure(let problem) = PostgresURL.parse(raw) else {
                Issue.record("accepted \(raw)")
                continue
            }
            #expect(problem == .passwordNotMaskable && !problem.description.contains("s3cret") && !problem.description.contains("pa?ss"))
        }
        let fine = try? PostgresURL.parse("postgresql://u:a@db.example/x?password=zz&sslmode=require").get()
        #expect(fine?.masked == "postgresql://u:***@db.example/x?password=***&sslmode=require")
        #expect(try PostgresURL.parse("postgresql://u:p%3Fss@db.example/x").get().masked == "postgresql://u:***@db.example/x")
    }

    /// Seeded fuzz: every URL that parses shows no password in its masked form.
    @Test func everyParsedURLIsMasked() {
        var rng = SeededGenerator(state: 0x7A55)
        let pieces = [
            "u", ":", "@", "/", "?", "&", "=", "password", "passw%6Frd", "%3F", "%40", "host", "db", "SECRETPW", "sslmode=require"
        ]
        for _ in 0..<20_000 {
            var raw = "postgresql://"
            for _ in 0..<rng.int(1...10) { raw += rng.pick(pieces) }
            if case .success(let url) = PostgresURL.parse(raw), url.hasPassword {
                #expect(PostgresURL.reparsedPassword(url.masked) == "***", "\(raw) -> \(url.masked)")
            }
        }
    }
}

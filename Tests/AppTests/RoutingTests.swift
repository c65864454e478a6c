import Service
import Testing

@testable import App

@Suite struct RouterTests {
    let router = Router(Application.routes)

    @Test func matchesParametersAndMethods() {
        guard case .found(let route, let params) = router.match(method: "PATCH", path: "/api/v1/admin/users/7") else {
            Issue.record("no match")
            return
        }
        #expect(route.access == .admin)
        #expect(params["id"] == "7")
        guard case .methodNotAllowed(let allowed) = router.match(method: "POST", path: "/api/v1/health") else {
            Issue.record("expected 405")
            return
        }
        #expect(allowed == ["GET"])
        guard case .notFound = router.match(method: "GET", path: "/api/v2/health") else { Issue.record("expected 404"); return }
        guard case .notFound = router.match(method: "GET", path: "/api/v1health") else { Issue.record("expected 404"); return }
    }

    @Test func everyAdminPathIsAdminOnly() {
        for route in Application.routes where route.segments.first == "admin" {
            #expect(route.access == .admin, "\(route.method) /\(route.segments.joined(separator: "/"))")
        }
    }
}

@Suite struct InputTests {
    let spec = InputSpec([.required("email", .email), .optional("role", .oneOf(["admin", "user"])), .optional("n", .integer(1...5))])

    @Test func validatesTypesAndLimits() throws {
        let ok = try spec.validate(Array(#"{"email":"a@b.co","role":"user","n":3}"#.utf8))
        #expect(ok.string("email") == "a@b.co" && ok.int("n") == 3)
        let cases = [
            (#"{"role":"user"}"#, "email"), (#"{"email":"nope"}"#, "email"), (#"{"email":"a@b.co","role":"root"}"#, "role"),
            (#"{"email":"a@b.co","n":9}"#, "n"), (#"{"email":"a@b.co","n":true}"#, "n"),
            (#"{"email":"a@b.co","x":1}"#, "x")
        ]
        for (body, field) in cases {
            do {
                _ = try spec.validate(Array(body.utf8))
                Issue.record("accepted \(body)")
            } catch {
                #expect(error.code == .invalidField && error.field == field, "\(body)")
            }
        }
        #expect(throws: ServiceError.self) { try spec.validate(Array("[1]".utf8)) }
    }
}

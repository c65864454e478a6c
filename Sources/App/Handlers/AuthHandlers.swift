import Crypto
import Service
import Storage
import Support

extension UserJSON {
    static func of(_ user: User) -> JSON {
        [
            "id": .number(Double(user.id)), "email": .string(user.email), "role": .string(user.role.rawValue),
            "disabled": .bool(user.disabled), "created_at": .number(Double(user.createdAt))
        ]
    }
}
enum UserJSON {}

enum AuthHandlers {
    static let loginInput = InputSpec([.required("email", .string(min: 1, max: 254)), .required("password", .string(min: 1, max: 1024))])

    static func login(_ c: Context) throws -> Response {
        let input = try c.input(loginInput)
        let session = try Accounts.signIn(c, email: try input.requiredString("email"), password: try input.requiredString("password"))
        return .json(
            ["user": UserJSON.of(session.user), "csrf_token": .string(session.csrfToken)],
            headers: [c.sessionCookie(session.sessionToken, maxAge: Int(session.ttlSeconds))])
    }

    static func logout(_ c: Context) throws -> Response {
        try Accounts.signOut(c)
        return .noContent(headers: [c.sessionCookie("", maxAge: 0)])
    }

    static func me(_ c: Context) throws -> Response {
        guard let auth = c.auth else { throw ServiceError.unauthorized }
        var body: [String: JSON] = ["user": UserJSON.of(auth.user), "auth": .string(auth.method.rawValue)]
        // Whether signing out should also end the identity provider's session (the page then
        // visits /auth/oidc/logout): the account is linked to the configured provider.
        if c.config.oidc != nil { body["identity_provider"] = .bool(try IdentityRepository(c.db).isLinked(userID: auth.user.id)) }
        if let token = auth.sessionToken { body["csrf_token"] = .string(Credentials.csrfToken(forSession: token)) }
        return .json(.object(body))
    }
}

enum TokenHandlers {
    static let createInput = InputSpec([.optional("name", .string(min: 1, max: 100))])

    static func tokenJSON(_ t: APIToken) -> JSON {
        [
            "id": .number(Double(t.id)), "name": .string(t.name), "prefix": .string(t.prefix),
            "created_at": .number(Double(t.createdAt)), "last_used_at": t.lastUsedAt.map { .number(Double($0)) } ?? .null
        ]
    }

    static func create(_ c: Context) throws -> Response {
        let input = c.request.body.isEmpty ? nil : try c.input(createInput)
        let (record, token) = try APITokens.issue(c, user: try c.user, name: input?.string("name") ?? "api token")
        guard case .object(var body) = tokenJSON(record) else { throw ServiceError.notFound }
        body["token"] = .string(token)
        return .json(.object(body), status: 201, headers: [("Cache-Control", "no-store")])
    }

    static func list(_ c: Context) throws -> Response {
        .json(["tokens": .array(try TokenRepository(c.db).list(userID: try c.user.id).map(tokenJSON))])
    }

    static func delete(_ c: Context) throws -> Response {
        guard try APITokens.revoke(c, id: try c.id()) else { throw ServiceError.notFound }
        return .noContent()
    }
}

import Crypto
import Storage
import Support

/// The account of a verified ID token. Matched by issuer and subject only. An existing account
/// with the token's email (a password account) is linked only when the provider says
/// `email_verified: true`: otherwise anyone who can make an account with that address at a
/// look-alike or careless provider would take over the account, an admin's included. The role
/// follows `OIDC_ADMIN_GROUPS` at every sign-in; `OIDC_ALLOWED_GROUPS` gates who may sign in.
package enum OIDCAccounts {
    /// The group names of the configured claim: a list of strings (other members are ignored), or
    /// one string.
    package static func groups(_ claims: [String: JSON], claim: String) -> [String] {
        switch claims[claim] {
        case .string(let one)?: return [one]
        case .array(let many)?: return many.compactMap(\.stringValue)
        default: return []
        }
    }

    package static func signIn(_ s: Scope, claims: IDTokenClaims, issuer: String, settings: OIDCSettings) throws -> Accounts.SignIn {
        let groups = Self.groups(claims.claims, claim: settings.groupsClaim)
        let isAdmin = groups.contains { settings.adminGroups.contains($0) }
        let linkedID = try IdentityRepository(s.db).userID(issuer: issuer, subject: claims.subject)
        let known = try linkedID.flatMap { try UserRepository(s.db).find(id: $0) }
        if !settings.allowedGroups.isEmpty, !groups.contains(where: { settings.allowedGroups.contains($0) }) {
            throw OIDCSignIn.refuse(
                s, .notAllowed, "in none of OIDC_ALLOWED_GROUPS", target: known.map(Accounts.target) ?? AuditTarget("user"))
        }
        let role: User.Role = isAdmin ? .admin : .user
        let token = Credentials.newSessionToken()
        let csrf = Credentials.csrfToken(forSession: token)
        let ttl = Int64(s.config.sessionHours) * 3600

        let user: User
        do {
            user = try transaction(s, claims: claims, issuer: issuer, known: known, role: role, groups: groups, session: (token, csrf, ttl))
        } catch let refusal as Refusal {
            // Recorded after the rollback: inside the transaction the event would be rolled back too.
            throw OIDCSignIn.refuse(s, refusal.code, refusal.reason, target: refusal.target)
        }
        Log.event(.info, "login", ["request_id": .string(s.requestID), "user_id": .number(Double(user.id)), "method": "oidc"])
        return Accounts.SignIn(user: user, sessionToken: token, csrfToken: csrf, ttlSeconds: ttl)
    }

    struct Refusal: Error {
        let code: ErrorCode
        let reason: String
        let target: AuditTarget
        init(_ code: ErrorCode, _ reason: String, _ user: User? = nil) {
            self.code = code
            self.reason = reason
            self.target = user.map(Accounts.target) ?? AuditTarget("user")
        }
    }

    /// The account's changes and the session, in one transaction with their audit events.
    static func transaction(
        _ s: Scope, claims: IDTokenClaims, issuer: String, known: User?, role: User.Role, groups: [String],
        session: (token: String, csrf: String, ttl: Int64)
    ) throws -> User {
        let users = UserRepository(s.db)
        let identities = IdentityRepository(s.db)
        return try s.db.transaction {
            var user: User
            var created = false
            var linked = false
            // Looked up again under the store's lock: two first sign-ins of one subject at once
            // (two tabs) make one account, and the second finds it.
            let current = try identities.userID(issuer: issuer, subject: claims.subject).flatMap { try users.find(id: $0) } ?? known
            if let known = current {
                user = known
            } else {
                guard let raw = claims.email, case let email = raw.lowercased(), EmailAddress.isValid(email) else {
                    throw Refusal(.emailMissing, "no valid email claim")
                }
                if let existing = try users.find(email: email) {
                    if let other = try identities.subject(userID: existing.id, issuer: issuer), other != claims.subject {
                        throw Refusal(.accountConflict, "email linked to another subject", existing)
                    }
                    guard claims.emailVerified else {
                        throw Refusal(.emailNotVerified, "email_verified is not true", existing)
                    }
                    user = existing
                    linked = true
                } else {
                    user = try users.create(email: email, passwordHash: OIDCSignIn.noPassword, role: role)
                    created = true
                }
                try identities.link(userID: user.id, issuer: issuer, subject: claims.subject)
            }
            let actor = AuditActor(kind: .user, userID: user.id, email: user.email)
            guard !user.disabled else {
                throw Refusal(.accountDisabled, "account disabled", user)
            }
            if created {
                try s.audit(
                    .userCreate, target: Accounts.target(user),
                    details: [
                        "email": .string(user.email), "role": .string(role.rawValue), "disabled": false, "source": "oidc",
                        "issuer": .string(issuer)
                    ], actor: actor)
            }
            var changes: [String: JSON] = [:]
            if linked { changes["identity"] = ["linked": .string(issuer), "email_verified": true] }
            if user.role != role {
                if user.role == .admin, try users.adminCount() <= 1 {
                    throw Refusal(.lastAdmin, "would demote the last active admin", user)
                }
                try users.update(id: user.id, role: role, disabled: nil, passwordHash: nil)
                changes["role"] = ["before": .string(user.role.rawValue), "after": .string(role.rawValue)]
                user = try users.find(id: user.id) ?? user
            }
            let groupRepo = GroupRepository(s.db)
            let before = try groupRepo.oidcGroupNames(userID: user.id)
            let memberships = try groupRepo.replaceOIDCMemberships(userID: user.id, groupNames: groups)
            let after = try groupRepo.oidcGroupNames(userID: user.id)
            if before != after {
                changes["oidc_groups"] = ["before": .array(before.map { .string($0) }), "after": .array(after.map { .string($0) })]
            }
            if !changes.isEmpty {
                changes["source"] = "oidc"
                try s.audit(.userUpdate, target: Accounts.target(user), details: changes, actor: actor)
            }
            try identities.touch(issuer: issuer, subject: claims.subject)
            try SessionRepository(s.db).create(
                tokenHash: Credentials.hash(session.token), csrfHash: Credentials.hash(session.csrf), userID: user.id,
                ttlSeconds: session.ttl)
            var details: [String: JSON] = [
                "method": "oidc", "issuer": .string(issuer), "session_hours": JSON(s.config.sessionHours), "role": .string(role.rawValue)
            ]
            if !memberships.ignored.isEmpty { details["groups_ignored"] = JSON(memberships.ignored.count) }
            try s.audit(.login, target: Accounts.target(user), details: details, actor: actor)
            return user
        }
    }
}

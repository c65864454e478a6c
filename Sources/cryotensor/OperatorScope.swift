import Crypto
import Foundation
import Service
import Storage
import Support

extension Commands {
    /// The scope an operator command acts in: its own services on the database, and the audit
    /// trail naming an `operator` actor (the Unix user in `client`, a fresh id per run).
    static func operatorScope(_ config: Config, db: Database, environment: [String: String]) throws -> Scope {
        let cacheKey = try ServiceKeyRepository(db).key("redis-cache-mac") { Crypto.Random.bytes(32) }
        let shared = SharedState(version: version, config: config, environment: environment, cacheMACKey: cacheKey)
        let services = try Services(config: config, shared: shared)
        let scope = Scope(
            lease: ServicesLease(owned: services), requestID: "cli-" + Encoding.hex(Crypto.Random.bytes(8)),
            clientAddress: "local uid \(getuid())")
        scope.actingAs = .operator
        return scope
    }
}

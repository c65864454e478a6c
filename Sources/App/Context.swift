import FastCGI
import Service
import Storage
import Support

/// What a handler sees: the domain scope (the caller and the services domain operations run in),
/// plus the request and its path parameters.
public final class Context: Scope {
    public let request: Request
    public let pathParams: [String: String]

    init(request: Request, pathParams: [String: String], lease: ServicesLease, requestID: String) {
        self.request = request
        self.pathParams = pathParams
        super.init(lease: lease, requestID: requestID, clientAddress: request.params["REMOTE_ADDR"] ?? "unknown")
    }

    public func input(_ spec: InputSpec) throws(ServiceError) -> Fields {
        try spec.validate(request.body)
    }

    /// A numeric path id; anything else is 404, as if it did not exist.
    public func id(_ name: String = "id") throws(ServiceError) -> Int64 {
        guard let text = pathParams[name], let id = Int64(text), id > 0 else { throw ServiceError.notFound }
        return id
    }
}

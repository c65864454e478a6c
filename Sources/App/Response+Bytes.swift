import Support

extension Response {
    /// A JSON answer already serialized (`JSONWriter`).
    static func json(bytes: [UInt8], status: Int = 200) -> Response {
        Response(status: status, headers: [("Content-Type", "application/json")], body: bytes, stream: nil)
    }
}

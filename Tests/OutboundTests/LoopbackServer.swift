import Foundation

/// A one-connection HTTP server on 127.0.0.1 for transfer tests: it reads the request head,
/// answers with `parts` (a pause of `pause` seconds between them), then closes.
final class LoopbackServer: Sendable {
    let port: Int
    let listener: Int32

    init(parts: [String], pause: Double = 0) throws {
        signal(SIGPIPE, SIG_IGN)  // a client that hangs up mid-answer must not kill the test process
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard fd >= 0 else { throw CocoaError(.fileReadUnknown) }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        address.sin_port = 0
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        let bound = withUnsafeMutablePointer(to: &address) { pointer in
            pointer.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                bind(fd, $0, length) == 0 && listen(fd, 4) == 0 && getsockname(fd, $0, &length) == 0
            }
        }
        guard bound else { close(fd); throw CocoaError(.fileReadUnknown) }
        listener = fd
        port = Int(UInt16(bigEndian: address.sin_port))
        Thread.detachNewThread {
            let client = accept(fd, nil, nil)
            guard client >= 0 else { return }
            defer { close(client) }
            var head: [UInt8] = []
            var byte: UInt8 = 0
            while !head.suffix(4).elementsEqual(Array("\r\n\r\n".utf8)), read(client, &byte, 1) == 1 { head.append(byte) }
            for (index, part) in parts.enumerated() {
                if index > 0 && pause > 0 { Thread.sleep(forTimeInterval: pause) }
                let bytes = Array(part.utf8)
                guard bytes.withUnsafeBytes({ write(client, $0.baseAddress, $0.count) }) == bytes.count else { return }
            }
        }
    }

    deinit { close(listener) }

    var url: String { "http://127.0.0.1:\(port)/" }

    static func answer(status: Int = 200, headers: [String] = [], body: String) -> String {
        (["HTTP/1.1 \(status) X", "Content-Length: \(body.utf8.count)", "Connection: close"] + headers).joined(separator: "\r\n")
            + "\r\n\r\n" + body
    }
}

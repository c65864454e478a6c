import CLZ4

/// Artifact payload framing before encryption: one flag byte (0 plain, 1 LZ4 frame) then the
/// bytes. The compressed form is kept only when it is smaller.
public enum PayloadFraming {
    public static func frame(_ json: [UInt8], compress: Bool, minBytes: Int) -> [UInt8] {
        if compress, json.count >= minBytes, let packed = LZ4.compress(json), packed.count < json.count {
            return [1] + packed
        }
        return [0] + json
    }

    /// The payload, or nil when malformed or larger than `maxBytes` once decompressed.
    public static func unframe(_ bytes: [UInt8], maxBytes: Int = 64 << 20) -> [UInt8]? {
        guard let flag = bytes.first else { return nil }
        let rest = Array(bytes.dropFirst())
        switch flag {
        case 0: return rest.count <= maxBytes ? rest : nil
        case 1: return LZ4.decompress(rest, limit: max(0, min(maxBytes, 64 << 20)))
        default: return nil
        }
    }
}

public enum LZ4 {
    public static func compress(_ input: [UInt8]) -> [UInt8]? {
        let bound = LZ4F_compressFrameBound(input.count, nil)
        var out = [UInt8](repeating: 0, count: bound)
        let written = input.withUnsafeBytes { src in
            out.withUnsafeMutableBytes { dst in LZ4F_compressFrame(dst.baseAddress, bound, src.baseAddress, input.count, nil) }
        }
        guard LZ4F_isError(written) == 0 else { return nil }
        return Array(out.prefix(written))
    }

    /// Decompresses one LZ4 frame; refuses output over `limit` bytes (a decompression bomb).
    public static func decompress(_ input: [UInt8], limit: Int = 64 << 20) -> [UInt8]? {
        var context: OpaquePointer?
        guard LZ4F_createDecompressionContext(&context, UInt32(LZ4F_VERSION)) == 0, let context else { return nil }
        defer { LZ4F_freeDecompressionContext(context) }
        var out: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 65536)
        var offset = 0
        var finished = false
        while offset < input.count {
            var srcSize = input.count - offset
            var dstSize = chunk.count
            let rc = input.withUnsafeBytes { src in
                chunk.withUnsafeMutableBytes { dst in
                    LZ4F_decompress(context, dst.baseAddress, &dstSize, src.baseAddress.map { $0 + offset }, &srcSize, nil)
                }
            }
            guard LZ4F_isError(rc) == 0 else { return nil }
            out.append(contentsOf: chunk[0..<dstSize])
            guard out.count <= limit else { return nil }
            offset += srcSize
            if rc == 0 { finished = true; break }
            if srcSize == 0 && dstSize == 0 { return nil }
        }
        // A truncated or garbage frame never ends: refuse it rather than return a prefix.
        return finished ? out : nil
    }
}

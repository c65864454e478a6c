import Support

/// A secret value that cannot be printed, logged or encoded by accident: its description is a mask.
/// Reading the value takes an explicit `reveal()`.
public struct Secret: Sendable, Equatable, CustomStringConvertible, CustomDebugStringConvertible, CustomReflectable {
    private let value: String
    public init(_ value: String) { self.value = value }
    public func reveal() -> String { value }
    public var description: String { "<secret>" }
    public var debugDescription: String { "<secret>" }
    /// `dump()` and `Mirror` see the mask, not the stored value.
    public var customMirror: Mirror { Mirror(self, children: [], displayStyle: .struct) }
}

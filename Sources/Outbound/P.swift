public enum OutboundPlaceholder {}

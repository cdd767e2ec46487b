import CNATS

/// A failed libnats call: the call's name, the library status and, for JetStream API calls, the server's error code.
public struct JetStreamError: Error, CustomStringConvertible, Sendable {
    public let operation: String
    public let status: Int32
    public let errorCode: Int32
    public let text: String

    init(_ operation: String, _ status: natsStatus, errorCode: jsErrCode = jsErrCode(rawValue: 0)) {
        self.operation = operation
        self.status = Int32(status.rawValue)
        self.errorCode = Int32(errorCode.rawValue)
        self.text = String(cString: natsStatus_GetText(status))
    }

    init(_ operation: String, message: String) {
        self.operation = operation
        self.status = -1
        self.errorCode = 0
        self.text = message
    }

    public var isTimeout: Bool { status == Int32(NATS_TIMEOUT.rawValue) }

    public var description: String {
        errorCode == 0 ? "\(operation): \(text)" : "\(operation): \(text) (JetStream error \(errorCode))"
    }
}

@inline(__always)
func check(_ operation: String, _ status: natsStatus, _ errorCode: jsErrCode = jsErrCode(rawValue: 0)) throws {
    guard status == NATS_OK else { throw JetStreamError(operation, status, errorCode: errorCode) }
}

import Vapor

/// Turns every error into the contract's envelope and status. Details of unexpected failures go to the log only,
/// so no stack trace, SQL or library message ever reaches a client.
public struct ContractErrorMiddleware: AsyncMiddleware {
    public init() {}

    public func respond(to request: Request, chainingTo next: any AsyncResponder) async throws -> Response {
        do {
            return try await next.respond(to: request)
        } catch {
            let appError = Self.classify(error)
            if appError.status.code >= 500 {
                request.logger.error(
                    "request failed",
                    metadata: ["error": "\(String(reflecting: error))", "path": "\(request.url.path)"]
                )
            }
            return Self.response(for: appError)
        }
    }

    static func response(for appError: AppError) -> Response {
        let response = Response(status: appError.status, headers: appError.headers)
        // Encoding a value type of strings cannot fail; the fallback keeps the envelope even so.
        let body = (try? JSONEncoder().encode(ErrorEnvelope(errors: appError.errors)))
            ?? Data(#"{"errors":[{"message":"Something went wrong"}]}"#.utf8)
        response.headers.contentType = .json
        response.body = .init(data: body)
        return response
    }

    /// Maps any error to what the client may see.
    public static func classify(_ error: any Error) -> AppError {
        switch error {
        case let error as AppError:
            return error
        case let error as DecodingError:
            return classify(decoding: error)
        case _ where DatabaseAvailability.isUnavailable(error):
            return .unavailable
        case let error as any AbortError:
            return classify(abort: error.status, headers: error.headers)
        default:
            return .internalFailure
        }
    }

    private static func classify(abort status: HTTPResponseStatus, headers: HTTPHeaders) -> AppError {
        switch status.code {
        case 404: return .notFound
        case 401, 403: return .notAuthorized
        case 503: return .unavailable
        // The standard reason phrase, never the thrower's reason, which may hold internals.
        case 400..<500: return AppError(status, [ErrorItem(message: status.reasonPhrase)], headers: headers)
        default: return .internalFailure
        }
    }

    private static func classify(decoding error: DecodingError) -> AppError {
        switch error {
        case .typeMismatch(_, let context), .valueNotFound(_, let context):
            let field = context.codingPath.map(\.stringValue).joined(separator: ".")
            return .invalid([ErrorItem(message: "Invalid value", field: field.isEmpty ? nil : field)])
        case .keyNotFound(let key, _):
            return .invalid([ErrorItem(message: "Required", field: key.stringValue)])
        case .dataCorrupted:
            return .badRequest("Malformed JSON body")
        @unknown default:
            return .badRequest("Malformed JSON body")
        }
    }
}

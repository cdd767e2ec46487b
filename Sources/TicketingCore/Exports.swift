// Services import TicketingCore alone and get the frameworks every service uses.
@_exported import Fluent
@_exported import TicketingEvents
@_exported import Vapor

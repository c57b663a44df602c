// Node (and bundlers): the client with the official socket.io-client already plugged in.
import { io } from "socket.io-client";
import { DroneEventsClient as CoreClient } from "./drone-events.js";

export * from "./drone-events.js";

export class DroneEventsClient extends CoreClient {
  constructor(options = {}) {
    super({ io, ...options });
  }
}

/** An error whose message is meant for the operator: it goes back to Docker as {"Err": message}. */
export class PluginError extends Error {
  override readonly name = 'PluginError';
}

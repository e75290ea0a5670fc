/** The version of the `tokenwarden` command, as `tokenwarden --version` prints it. */
export const VERSION = '0.1.0';

import { Secret } from '../credentials/secret';
import { writeFileAtomic } from './atomic-file';

/** Sets the local administrator's password on the device. Throws with a message that never holds the password. */
export interface PasswordSetter {
  set(account: string, password: Secret): Promise<void>;
}

export interface SetterOptions {
  /** The file setter's simulated device: the file that holds the account's password. */
  file?: string;
}

/** A simulated device for tests and demos: the password lives in a 0600 file, replaced atomically. */
function createFileSetter(opts: SetterOptions): PasswordSetter {
  const file = opts.file;
  if (!file) throw new Error('the file setter needs --file PATH');
  return {
    async set(_account, password) {
      writeFileAtomic(file, password.expose());
    },
  };
}

export const passwordSetters = {
  file: createFileSetter,
} satisfies Record<string, (opts: SetterOptions) => PasswordSetter>;

export type SetterName = keyof typeof passwordSetters;
export const setterNames = Object.keys(passwordSetters) as SetterName[];

import { describe, expect, it, jest } from '@jest/globals';
import { settleNowOrLater } from '@tokenwarden/core/internal';

const add = (result: number, a: number, b: number, c: number) => result + a + b + c;

describe('settleNowOrLater', () => {
  it('calls back at once for a value: no promise on the warm path', () => {
    expect(settleNowOrLater(1, add, 2, 3, 4)).toBe(10);
  });

  it('calls back once a promise resolves', async () => {
    await expect(settleNowOrLater(Promise.resolve(1), add, 2, 3, 4)).resolves.toBe(10);
  });

  it('hands a rejection to fail when given, else rejects', async () => {
    const fail = jest.fn();
    const error = new Error('down');
    await settleNowOrLater(Promise.reject(error), add, 2, 3, 4, fail);
    expect(fail).toHaveBeenCalledWith(error);
    await expect(settleNowOrLater(Promise.reject(error), add, 2, 3, 4)).rejects.toBe(error);
  });

  it('hands a throw of the callback after the wait to fail too', async () => {
    const fail = jest.fn();
    const error = new Error('write failed');
    const throwing = () => {
      throw error;
    };
    await settleNowOrLater(Promise.resolve(1), throwing, 0, 0, 0, fail);
    expect(fail).toHaveBeenCalledWith(error);
  });
});

/** Last year whose times `toISOString` writes with four digits: 9999-12-31T23:59:59.999Z. */
const LAST_FOUR_DIGIT_MS = 253_402_300_799_999;

/**
 * `new Date(ms).toISOString()`, built from the text of the current second (a trail stamps many
 * events a second, and formatting a date is a good part of sealing one).
 */
export class IsoTimes {
  private second = Number.NaN;
  private prefix = '';

  of(ms: number): string {
    if (!(ms >= 0 && ms <= LAST_FOUR_DIGIT_MS) || !Number.isInteger(ms)) {
      return new Date(ms).toISOString();
    }
    const millis = ms % 1000;
    const second = ms - millis;
    if (second !== this.second) {
      this.second = second;
      // 'YYYY-MM-DDTHH:mm:ss.'
      this.prefix = new Date(second).toISOString().slice(0, 20);
    }
    return this.prefix + (millis < 10 ? '00' : millis < 100 ? '0' : '') + millis + 'Z';
  }
}

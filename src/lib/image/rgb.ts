/** An 8-bit RGB image, row-major, 3 bytes per pixel (height, width, 3). */
export interface RgbImage {
  width: number
  height: number
  rgb: Uint8Array
}

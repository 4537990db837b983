/** A test error a paper reports for the setting of a preset. */
export interface PaperFigure {
  /** The reported test error as a fraction; undefined where we could not find the paper's figure (never guessed). */
  testError?: number;
  /** The figure is a round one (the abstract's "~1 %"), not a table entry. */
  approx?: boolean;
  paper: string;
  /** Where in the paper the figure is. */
  where?: string;
  url: string;
}

/**
 * The papers' reported test errors, per preset (and algorithm where it is not EP). Each entry was
 * read on the page at its `url`; a preset whose figure we could not read there has no testError.
 */
const FIGURES: Record<string, PaperFigure> = {
  // Scellier & Bengio 2017 report their MNIST errors in a figure and its text (section 5); the pages
  // we could read (https://www.frontiersin.org/articles/10.3389/fncom.2017.00024/full) gave the
  // abstract only, so the figures stay empty.
  'scellier2017-1h': { paper: 'Scellier & Bengio 2017', url: 'https://www.frontiersin.org/articles/10.3389/fncom.2017.00024/full' },
  'scellier2017-2h': { paper: 'Scellier & Bengio 2017', url: 'https://www.frontiersin.org/articles/10.3389/fncom.2017.00024/full' },
  'scellier2017-3h': { paper: 'Scellier & Bengio 2017', url: 'https://www.frontiersin.org/articles/10.3389/fncom.2017.00024/full' },
  // Ernoult et al. 2019, abstract: "the first convolutional architecture trained with EP achieving ~ 1% test error on MNIST"
  // (https://arxiv.org/abs/1905.13633, read at https://koineu.com/en/posts/2019/06/2019-06-03-1905_13633);
  // the prototypical nets' table entries were not in the pages we could read.
  'ernoult2019-conv': { testError: 0.01, approx: true, paper: 'Ernoult et al. 2019', where: 'abstract', url: 'https://arxiv.org/abs/1905.13633' },
  'ernoult2019-p1h': { paper: 'Ernoult et al. 2019', url: 'https://arxiv.org/abs/1905.13633' },
  'ernoult2019-p2h': { paper: 'Ernoult et al. 2019', url: 'https://arxiv.org/abs/1905.13633' },
  'ernoult2019-p3h': { paper: 'Ernoult et al. 2019', url: 'https://arxiv.org/abs/1905.13633' },
  'ernoult2019-eb1h': { paper: 'Ernoult et al. 2019', url: 'https://arxiv.org/abs/1905.13633' },
  // Laborieux et al. 2021, abstract: "we are able to achieve a test error of 11.7% on CIFAR-10"
  // (https://www.frontiersin.org/articles/10.3389/fnins.2021.633674/full); their MNIST table was not in the text we could read.
  'laborieux2021-cifar10': {
    testError: 0.117,
    paper: 'Laborieux et al. 2021',
    where: 'abstract',
    url: 'https://www.frontiersin.org/articles/10.3389/fnins.2021.633674/full',
  },
  'laborieux2021-cifar10-dropout': { paper: 'Laborieux et al. 2021', url: 'https://www.frontiersin.org/articles/10.3389/fnins.2021.633674/full' },
  'laborieux2021-mnist': { paper: 'Laborieux et al. 2021', url: 'https://www.frontiersin.org/articles/10.3389/fnins.2021.633674/full' },
  'laborieux2021-mlp': { paper: 'Laborieux et al. 2021', url: 'https://www.frontiersin.org/articles/10.3389/fnins.2021.633674/full' },
  // the vector-field convnets: the abstract's "unidirectional forward and backward connections" result was cut off in
  // the text we could read, so no figure
  'laborieux2021-vf-cifar10': { paper: 'Laborieux et al. 2021', url: 'https://www.frontiersin.org/articles/10.3389/fnins.2021.633674/full' },
  'laborieux2021-vf-cifar10-same-update': { paper: 'Laborieux et al. 2021', url: 'https://www.frontiersin.org/articles/10.3389/fnins.2021.633674/full' },
  'laborieux2021-vf-mnist': { paper: 'Laborieux et al. 2021', url: 'https://www.frontiersin.org/articles/10.3389/fnins.2021.633674/full' },
  // Vinayak & Srinivasan 2025, abstract: "Hopfield-Resnet13 achieves 93.92% accuracy on CIFAR-10" (https://arxiv.org/html/2509.26003v1)
  'hopfield-resnet13-cifar10': {
    testError: 1 - 0.9392,
    paper: 'Vinayak & Srinivasan 2025',
    where: 'abstract',
    url: 'https://arxiv.org/abs/2509.26003',
  },
  // Ernoult et al. 2020 (continual EP): the abstract gives no figure (https://ar5iv.labs.arxiv.org/html/2005.04168)
  'ernoult2020-cep': { paper: 'Ernoult et al. 2020', url: 'https://arxiv.org/abs/2005.04168' },
};

/** The paper's figure for a preset run by an algorithm (EP unless said), if the preset comes from a paper. */
export function paperFigure(preset: string, algorithm = 'ep'): PaperFigure | undefined {
  return FIGURES[algorithm === 'ep' || (preset === 'ernoult2020-cep' && algorithm === 'cep') ? preset : `${preset}-${algorithm}`];
}

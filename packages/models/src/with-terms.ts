import { EnergyNetwork, type Term } from '@eqprop/energies';

/**
 * The same model with more energy terms (a lateral coupling inside a layer, a skip coupling): a new
 * EnergyNetwork sharing the model's layers, activations, cost and parameter variables (training
 * either trains both). Each new term is checked against the layers' shapes (a ShapeError naming it
 * otherwise). The model's learning-rate groups are kept as they are, so the new parameters have
 * none: with one rate per layer, the trainer needs their rates (`optimizer.lrByParam`) or refuses.
 */
export function withTerms(model: EnergyNetwork, terms: readonly Term[]): EnergyNetwork {
  return new EnergyNetwork({
    inputShape: model.inputShape,
    layerShapes: model.layerShapes,
    activations: model.activations,
    terms: [...model.terms, ...terms],
    cost: model.cost,
    form: model.form,
    groups: { ...model.groups },
    dropout: model.dropout,
  });
}

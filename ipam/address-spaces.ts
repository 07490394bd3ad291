export const LOCAL_ADDRESS_SPACE = 'slim-local';
export const GLOBAL_ADDRESS_SPACE = 'slim-global';
export const ADDRESS_SPACES = [LOCAL_ADDRESS_SPACE, GLOBAL_ADDRESS_SPACE] as const;
